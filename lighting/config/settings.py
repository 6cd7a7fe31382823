"""The controller's settings: one object, from a TOML file plus ``CITYLIGHT_`` variables.

Loaded once in the entry point and passed in; nothing deeper reads the environment.
Environment variables override the file (``CITYLIGHT_DATABASE_URL``,
``CITYLIGHT_COAP__PORT``). Every error names the file, the key and what was expected.
"""

from __future__ import annotations

import datetime
import tomllib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lighting.config.runtime import (
    CoapConfig,
    ContactConfig,
    ControlConfig,
    DeliveryConfig,
    FaultsConfig,
    IngestConfig,
    MemoryConfig,
    MetricsConfig,
    MqttConfig,
    RetentionConfig,
)
from lighting.config.schedule import (
    CalendarConfig,
    OverrideConfig,
    ProgramConfig,
    SiteConfig,
    ZoneConfig,
)
from lighting.errors import ConfigError
from schedules import (
    AntiFlap,
    Calendar,
    Override,
    Program,
    Report,
    Rule,
    ScheduleError,
    Site,
    as_calendar,
    parse_duration,
    resolve_wall_time,
    validate,
)

EXAMPLE_CONFIG = "example.toml"


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
    mqtt: MqttConfig = MqttConfig()
    faults: FaultsConfig = FaultsConfig()
    retention: RetentionConfig = RetentionConfig()
    control: ControlConfig = ControlConfig()
    metrics: MetricsConfig = MetricsConfig()
    memory: MemoryConfig = MemoryConfig()
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
