"""The controller's settings: one object, from a TOML file plus ``CITYLIGHT_`` variables.

Loaded once in the entry point and passed in; nothing deeper reads the environment.
Environment variables override the file (``CITYLIGHT_DATABASE_URL``,
``CITYLIGHT_COAP__PORT``). Every error names the file, the key and what was expected.
"""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Callable
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lighting.errors import ConfigError
from schedules import (
    AntiFlap,
    Calendar,
    DateRange,
    Dates,
    DaySelector,
    Override,
    Program,
    Report,
    Rule,
    ScheduleError,
    Site,
    all_night,
    as_calendar,
    evening_only,
    midnight_dimming,
    morning_only,
    parse_anchor,
    parse_duration,
    parse_nth_weekday,
    parse_step,
    parse_weekdays,
    parse_yearly,
    part_night,
    resolve_wall_time,
    validate,
)

EXAMPLE_CONFIG = "example.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Section):
    name: str = Field(min_length=1, max_length=100)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    timezone: str = Field(min_length=1, description="an IANA time zone such as Asia/Shanghai")


def _checked(parse: Callable[[str], object], value: str) -> str:
    """``value`` if ``parse`` accepts it; its ``ScheduleError`` as the ``ValueError`` pydantic
    reports under the key being validated."""
    try:
        parse(value)
    except ScheduleError as err:
        raise ValueError(str(err)) from err
    return value


def _anchor(value: str) -> str:
    return _checked(parse_anchor, value)


def _duration(value: str) -> str:
    return _checked(parse_duration, value)


class StepConfig(_Section):
    at: str = Field(description='"sunset-10min", "23:00", "sunrise+10min", "S+30", ...')
    level: int = Field(ge=0, le=100)
    ramp: str = Field(default="0s", description='fade time: "30s", "2min" (at most 1h)')

    _at = field_validator("at")(_anchor)
    _ramp = field_validator("ramp")(_duration)


class _LitPattern(_Section):
    """What every one-line pattern has: the level it lights at and its fade."""

    level: int = Field(default=100, ge=0, le=100)
    ramp: str = "0s"

    _ramp = field_validator("ramp")(_duration)


class AllNightConfig(_LitPattern):
    on: str = "sunset"
    off: str = "sunrise"

    _anchors = field_validator("on", "off")(_anchor)


class EveningConfig(_LitPattern):
    until: str
    on: str = "sunset"

    _anchors = field_validator("until", "on")(_anchor)


class MorningConfig(_LitPattern):
    start: str = Field(alias="from")
    off: str = "sunrise"

    _anchors = field_validator("start", "off")(_anchor)


class PartNightConfig(_LitPattern):
    dim: list[StepConfig] = Field(min_length=1)
    on: str = "sunset"
    off: str = "sunrise"

    _anchors = field_validator("on", "off")(_anchor)


class MidnightDimConfig(_Section):
    dimmed: int = Field(ge=0, le=100)
    window: str = Field(description='length of the dimmed window around solar midnight: "6h"')
    level: int = Field(default=100, ge=0, le=100)
    on: str = "sunset"
    off: str = "sunrise"
    ramp: str = "0s"

    _anchors = field_validator("on", "off")(_anchor)
    _durations = field_validator("window", "ramp")(_duration)


_PROGRAM_FORMS = ("steps", "all-night", "evening", "morning", "part-night", "midnight-dim")


class ProgramConfig(_Section):
    """A program: its own ``steps``, or exactly one of the common patterns."""

    description: str = ""
    steps: list[StepConfig] | None = Field(default=None, min_length=1)
    all_night: AllNightConfig | None = Field(default=None, alias="all-night")
    evening: EveningConfig | None = None
    morning: MorningConfig | None = None
    part_night: PartNightConfig | None = Field(default=None, alias="part-night")
    midnight_dim: MidnightDimConfig | None = Field(default=None, alias="midnight-dim")

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        given = [
            form
            for form, value in zip(_PROGRAM_FORMS, self._forms(), strict=True)
            if value is not None
        ]
        if len(given) != 1:
            found = ", ".join(given) or "none"
            raise ValueError(f"give exactly one of {', '.join(_PROGRAM_FORMS)} (found: {found})")
        return self

    def _forms(self) -> tuple[object, ...]:
        return (
            self.steps,
            self.all_night,
            self.evening,
            self.morning,
            self.part_night,
            self.midnight_dim,
        )

    def value(self, name: str) -> Program:
        """The ``schedules.Program`` this table declares."""
        if self.steps is not None:
            return Program(name, tuple(parse_step(s.at, s.level, s.ramp) for s in self.steps))
        if (p := self.all_night) is not None:
            return all_night(name, p.level, on=p.on, off=p.off, ramp=p.ramp)
        if (e := self.evening) is not None:
            return evening_only(name, e.until, e.level, on=e.on, ramp=e.ramp)
        if (m := self.morning) is not None:
            return morning_only(name, m.start, m.level, off=m.off, ramp=m.ramp)
        if (n := self.part_night) is not None:
            dims = [  # a dimming step's own ramp, else the pattern's
                parse_step(s.at, s.level, s.ramp if "ramp" in s.model_fields_set else n.ramp)
                for s in n.dim
            ]
            return part_night(name, n.level, dims, on=n.on, off=n.off, ramp=n.ramp)
        if (d := self.midnight_dim) is not None:
            return midnight_dimming(
                name, d.level, d.dimmed, d.window, on=d.on, off=d.off, ramp=d.ramp
            )
        raise ScheduleError(f"program {name!r} declares no steps")  # _one_form prevents it


class RuleConfig(_Section):
    """A calendar rule: ``program`` on the nights matching every selector given."""

    name: str = Field(min_length=1)
    program: str
    description: str = ""
    weekdays: list[str] | None = Field(default=None, description='"mon-fri" or ["sat", "sun"]')
    first: datetime.date | None = Field(default=None, alias="from")
    until: datetime.date | None = None
    yearly: str | None = Field(default=None, description='"12-24" or "12-20..01-06"')
    nth: str | None = Field(default=None, description='"second monday of may", "last friday"')
    dates: list[datetime.date] | None = Field(default=None, min_length=1)

    @field_validator("weekdays", mode="before")
    @classmethod
    def _one_string(cls, value: object) -> object:
        return value.split(",") if isinstance(value, str) else value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str] | None) -> list[str] | None:
        try:
            _ = value is None or parse_weekdays(value)
        except ScheduleError as err:
            raise ValueError(str(err)) from err
        return value

    _yearly = field_validator("yearly")(lambda value: _checked(parse_yearly, value))
    _nth = field_validator("nth")(lambda value: _checked(parse_nth_weekday, value))

    @model_validator(mode="after")
    def _selectors(self) -> Self:
        if not self.selectors():
            raise ValueError(
                "a rule needs at least one of weekdays, from/until, yearly, nth or dates "
                "(the calendar's default covers every other night)"
            )
        if self.first and self.until and self.first > self.until:
            raise ValueError(f"from {self.first} is after until {self.until}")
        return self

    def selectors(self) -> tuple[DaySelector, ...]:
        found: list[DaySelector] = []
        if self.weekdays is not None:
            found.append(parse_weekdays(self.weekdays))
        if self.first is not None or self.until is not None:
            found.append(DateRange(self.first, self.until))
        if self.yearly is not None:
            found.append(parse_yearly(self.yearly))
        if self.nth is not None:
            found.append(parse_nth_weekday(self.nth))
        if self.dates is not None:
            found.append(Dates(frozenset(self.dates)))
        return tuple(found)


class CalendarConfig(_Section):
    """Rules in order (the first matching one wins), then the ``default`` program."""

    default: str
    description: str = ""
    min_lit: str = Field(default="10min", alias="min-lit", description="anti-flap: shortest lit")
    min_gap: str = Field(default="10min", alias="min-gap", description="anti-flap: shortest gap")
    rules: list[RuleConfig] = Field(default_factory=list)

    _guards = field_validator("min_lit", "min_gap")(_duration)


class OverrideConfig(_Section):
    """A level held for a zone (or a lamp, or every zone) from ``start`` to ``end``.

    Times without an offset are read in the site's zone."""

    name: str = Field(min_length=1)
    level: int = Field(ge=0, le=100)
    start: datetime.datetime
    end: datetime.datetime
    priority: int = 0
    zone: str | None = None
    lamp: str | None = None
    reason: str = ""


class ZoneConfig(_Section):
    """A zone runs a ``calendar``, or a ``program`` every night."""

    program: str | None = None
    calendar: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _one_schedule(self) -> Self:
        if (self.program is None) == (self.calendar is None):
            raise ValueError("give either program or calendar")
        return self


class CoapConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=5683, ge=0, le=65535)
    ack_timeout_s: float = Field(
        default=2.0, ge=0.05, le=60, description="RFC 7252 ACK_TIMEOUT for commands"
    )
    max_retransmit: int = Field(default=4, ge=0, le=8, description="RFC 7252 MAX_RETRANSMIT")
    receive_buffer_bytes: int = Field(
        default=4 * 1024 * 1024, ge=65_536, le=1 << 30, description="SO_RCVBUF of the socket"
    )


class DeliveryConfig(_Section):
    """How commands reach the lamps: pacing, retries, sleepy lamps, reconciliation."""

    concurrency: int = Field(default=256, ge=1, le=100_000, description="in flight, city-wide")
    per_cell: int = Field(default=8, ge=1, le=10_000, description="in flight per NB-IoT cell")
    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff_s: float = Field(default=2.0, gt=0, le=3600, description="first retry delay")
    backoff_max_s: float = Field(default=120.0, gt=0, le=86_400)
    jitter_s: float = Field(default=1.0, ge=0, le=600, description="spread of first sends")
    wake_window_s: float = Field(default=20.0, gt=0, le=3600, description="sleepy lamps")
    reconcile_grace_s: float = Field(default=120.0, ge=0, le=86_400)
    cell_down_after: int = Field(
        default=16, ge=1, le=100_000, description="failed attempts in a row that park a cell"
    )


class ContactConfig(_Section):
    missed_reports: int = Field(default=3, ge=1, le=1000)
    check_interval_s: float = Field(default=5.0, gt=0, le=3600)


class IngestConfig(_Section):
    batch_size: int = Field(default=500, ge=1, le=100_000)
    max_delay_s: float = Field(default=0.05, gt=0, le=10)
    buffer: int = Field(default=100_000, ge=1)


class Settings(BaseSettings):
    """Everything ``lighting run`` needs."""

    model_config = SettingsConfigDict(
        env_prefix="CITYLIGHT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    site: SiteConfig
    database_url: str = "sqlite:///citylight.db"
    coap: CoapConfig = CoapConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    contact: ContactConfig = ContactConfig()
    ingest: IngestConfig = IngestConfig()
    programs: dict[str, ProgramConfig] = Field(min_length=1)
    calendars: dict[str, CalendarConfig] = Field(default_factory=dict)
    zones: dict[str, ZoneConfig] = Field(min_length=1)
    overrides: list[OverrideConfig] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's content comes in as init arguments; the environment overrides it.
        return env_settings, init_settings

    @model_validator(mode="after")
    def _check(self) -> Self:
        for key, name, known in self._references():
            if name not in known:
                kind = key.rsplit(".", 1)[-1].replace("default", "program")
                raise ValueError(
                    f"{key}: no {kind} {name!r} (known: {', '.join(sorted(known)) or 'none'})"
                )
        names = [override.name for override in self.overrides]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"overrides.{index}.name: a second override named {name!r}")
        try:
            _ = self.site_value
            _ = self.program_values
            _ = self.calendar_values
            _ = self.override_values
        except ScheduleError as err:
            raise ValueError(str(err)) from err
        return self

    def _references(self) -> list[tuple[str, str, Any]]:
        """(key, name, where it must be declared) for every name the file refers to."""
        refs: list[tuple[str, str, Any]] = []
        for zone, cfg in self.zones.items():
            if cfg.program is not None:
                refs.append((f"zones.{zone}.program", cfg.program, self.programs))
            if cfg.calendar is not None:
                refs.append((f"zones.{zone}.calendar", cfg.calendar, self.calendars))
        for name, cal in self.calendars.items():
            refs.append((f"calendars.{name}.default", cal.default, self.programs))
            refs.extend(
                (f"calendars.{name}.rules.{index}.program", rule.program, self.programs)
                for index, rule in enumerate(cal.rules)
            )
        refs.extend(
            (f"overrides.{index}.zone", override.zone, self.zones)
            for index, override in enumerate(self.overrides)
            if override.zone is not None
        )
        return refs

    @cached_property
    def site_value(self) -> Site:
        s = self.site
        return Site(name=s.name, latitude=s.latitude, longitude=s.longitude, timezone=s.timezone)

    @cached_property
    def program_values(self) -> dict[str, Program]:
        programs = {}
        for name, cfg in self.programs.items():
            try:
                programs[name] = cfg.value(name)
            except ScheduleError as err:
                raise ScheduleError(f"programs.{name}: {err}") from err
        return programs

    @cached_property
    def calendar_values(self) -> dict[str, Calendar]:
        """The declared calendars, as ``schedules.Calendar`` values."""
        calendars = {}
        programs = self.program_values
        for name, cfg in self.calendars.items():
            try:
                rules = tuple(
                    Rule(rule.name, programs[rule.program], rule.selectors(), rule.description)
                    for rule in cfg.rules
                )
                guard = AntiFlap(parse_duration(cfg.min_lit), parse_duration(cfg.min_gap))
                calendars[name] = Calendar(name, programs[cfg.default], rules, guard)
            except ScheduleError as err:
                raise ScheduleError(f"calendars.{name}: {err}") from err
        return calendars

    @cached_property
    def override_values(self) -> tuple[Override, ...]:
        """The declared overrides; times without an offset are read in the site's zone."""
        tz = self.site_value.tzinfo
        found = []
        for index, cfg in enumerate(self.overrides):
            start, end = (
                moment
                if moment.tzinfo is not None
                else resolve_wall_time(moment.date(), moment.time(), tz).at
                for moment in (cfg.start, cfg.end)
            )
            try:
                found.append(
                    Override(
                        cfg.name,
                        cfg.level,
                        start,
                        end,
                        cfg.priority,
                        zone=cfg.zone,
                        lamp=cfg.lamp,
                        reason=cfg.reason,
                    )
                )
            except ScheduleError as err:
                raise ScheduleError(f"overrides.{index}: {err}") from err
        return tuple(found)

    def zone_calendar(self, zone: str) -> Calendar:
        """The calendar of ``zone`` (a lone program is a calendar with only a default)."""
        cfg = self.zones[zone]
        if cfg.calendar is not None:
            return self.calendar_values[cfg.calendar]
        return as_calendar(self.program_values[cfg.program or ""])

    def zone_program(self, zone: str) -> Program:
        """The program ``zone`` runs on ordinary nights: its calendar's default."""
        return self.zone_calendar(zone).default

    def schedule_keys(self, *, used_only: bool = True) -> dict[str, Calendar]:
        """Every calendar the zones run (or every one declared), by its key in the file:
        ``calendars.NAME`` or, for a zone with a lone program, ``programs.NAME``."""
        found: dict[str, Calendar] = {}
        if not used_only:
            found.update((f"calendars.{name}", cal) for name, cal in self.calendar_values.items())
        for zone, cfg in self.zones.items():
            key = f"calendars.{cfg.calendar}" if cfg.calendar else f"programs.{cfg.program}"
            found[key] = self.zone_calendar(zone)
        return found

    def calendar_reports(
        self, first: datetime.date, nights: int = 365, *, used_only: bool = True
    ) -> dict[str, Report]:
        """``schedules.validate`` for each calendar of ``schedule_keys``, by key."""
        site = self.site_value
        keys = self.schedule_keys(used_only=used_only)
        return {key: validate(cal, site, first, nights) for key, cal in keys.items()}

    def require_valid_calendars(self, first: datetime.date) -> list[str]:
        """Refuse (``ConfigError``) a calendar the zones run if it has validation errors over
        the year from ``first``; otherwise its warnings, one line each, to be logged."""
        warnings: list[str] = []
        for key, report in self.calendar_reports(first).items():
            if report.errors:
                lines = "; ".join(str(problem) for problem in report.errors)
                raise ConfigError(
                    f"{len(report.errors)} error(s) over the nights {report.first} to "
                    f"{report.last} (see `lighting validate`): {lines}",
                    key=key,
                )
            warnings.extend(f"{key}: {problem}" for problem in report.warnings)
        warnings.extend(
            f"overrides.{index}: override {override.name!r} is for lamp {override.lamp}; the "
            "daemon plans zones and does not apply lamp overrides yet (see lighting plan --lamp)"
            for index, override in enumerate(self.override_values)
            if override.lamp is not None
        )
        return warnings


def _describe(err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        # Cross-table checks name their own key ("zones.x.calendar: no calendar ...").
        lines.append(f"{key}: {message}" if key else message)
    return "; ".join(lines)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read ``path`` (the packaged example when None) and the environment into ``Settings``."""
    source = str(path) if path is not None else f"<packaged {EXAMPLE_CONFIG}>"
    try:
        if path is None:
            text = resources.files("lighting").joinpath(EXAMPLE_CONFIG).read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        data = tomllib.loads(text)
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror or err}", source=source) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"not valid TOML: {err}", source=source) from err
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as err:
        raise ConfigError(_describe(err), source=source) from err
