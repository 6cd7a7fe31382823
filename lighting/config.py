"""The controller's settings: one object, from a TOML file plus ``CITYLIGHT_`` variables.

Loaded once in the entry point and passed in; nothing deeper reads the environment.
Environment variables override the file (``CITYLIGHT_DATABASE_URL``,
``CITYLIGHT_COAP__PORT``). Every error names the file, the key and what was expected.
"""

from __future__ import annotations

import tomllib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lighting.errors import ConfigError
from schedules import Program, ScheduleError, Site, parse_step

EXAMPLE_CONFIG = "example.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Section):
    name: str = Field(min_length=1, max_length=100)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    timezone: str = Field(min_length=1, description="an IANA time zone such as Asia/Shanghai")


class StepConfig(_Section):
    at: str = Field(description='"sunset-10min", "23:00", "sunrise+10min", "S+30", ...')
    level: int = Field(ge=0, le=100)


class ProgramConfig(_Section):
    steps: list[StepConfig] = Field(min_length=1)


class ZoneConfig(_Section):
    program: str
    description: str = ""


class CoapConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=5683, ge=0, le=65535)


class DeliveryConfig(_Section):
    concurrency: int = Field(default=64, ge=1, le=100_000)
    timeout_s: float = Field(default=10.0, gt=0, le=600)


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
    zones: dict[str, ZoneConfig] = Field(min_length=1)

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
        for zone, cfg in self.zones.items():
            if cfg.program not in self.programs:
                known = ", ".join(sorted(self.programs))
                raise ValueError(
                    f"zones.{zone}.program: no program {cfg.program!r} (known: {known})"
                )
        try:
            _ = self.site_value
            _ = self.program_values
        except ScheduleError as err:
            raise ValueError(str(err)) from err
        return self

    @cached_property
    def site_value(self) -> Site:
        s = self.site
        return Site(name=s.name, latitude=s.latitude, longitude=s.longitude, timezone=s.timezone)

    @cached_property
    def program_values(self) -> dict[str, Program]:
        programs = {}
        for name, cfg in self.programs.items():
            try:
                steps = tuple(parse_step(step.at, step.level) for step in cfg.steps)
            except ScheduleError as err:
                raise ScheduleError(f"programs.{name}.steps: {err}") from err
            programs[name] = Program(name=name, steps=steps)
        return programs

    def zone_program(self, zone: str) -> Program:
        return self.program_values[self.zones[zone].program]


def _describe(err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{key}: {item['msg']}")
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
