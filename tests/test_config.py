"""Settings: the packaged example loads, the environment overrides the file, and every error
names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from lighting.config import load_settings
from lighting.errors import ConfigError

GOOD = """
[site]
name = "Tromso"
latitude = 69.65
longitude = 18.96
timezone = "Europe/Oslo"

[programs.all-night]
steps = [{ at = "sunset", level = 100 }, { at = "sunrise", level = 0 }]

[zones.harbour]
program = "all-night"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "city.toml"
    path.write_text(text)
    return path


def test_the_packaged_example_loads() -> None:
    settings = load_settings(None)
    assert settings.site_value.timezone == "Asia/Shanghai"
    assert set(settings.zones) == {"centre", "north", "harbour"}
    assert [str(s.anchor) for s in settings.zone_program("centre").steps] == [
        "sunset-10min",
        "23:00",
        "01:00",
        "sunrise+10min",
    ]


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYLIGHT_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("CITYLIGHT_COAP__PORT", "15683")
    settings = load_settings(_write(tmp_path, GOOD))
    assert settings.database_url == "sqlite:///elsewhere.db"
    assert settings.coap.port == 15683


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace('program = "all-night"', 'program = "none"'),
            "zones.harbour.program: no program 'none'",
        ),
        (GOOD.replace('at = "sunset"', 'at = "sunset+10"'), "programs.all-night.steps"),
        (GOOD.replace("level = 100", "level = 250"), "programs.all-night.steps.0.level"),
        (GOOD + "\n[coap]\nhots = 'x'\n", "coap.hots: Extra inputs are not permitted"),
        (GOOD.replace('"Europe/Oslo"', '"Mars/Olympus"'), "Mars/Olympus"),
        ("[site\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
