"""Sites and programs shared by the schedules tests."""

from __future__ import annotations

from schedules import Program, Site, parse_step

WEIFANG = Site("Weifang", 36.71, 119.16, "Asia/Shanghai")
TROMSO = Site("Tromsø", 69.65, 18.96, "Europe/Oslo")
BERLIN = Site("Berlin", 52.52, 13.40, "Europe/Berlin")
MCMURDO = Site("McMurdo", -77.85, 166.67, "Antarctica/McMurdo")
# Solar noon about 12:36 local: near the polar night its short days fall after local noon.
MURMANSK = Site("Murmansk", 68.97, 33.09, "Europe/Moscow")
SYDNEY = Site("Sydney", -33.87, 151.21, "Australia/Sydney")

STANDARD = Program(
    "standard",
    (
        parse_step("sunset-10min", 100),
        parse_step("23:00", 60),
        parse_step("01:00", 30),
        parse_step("sunrise+10min", 0),
    ),
)
