"""The running tables of the settings file: CoAP, delivery, contact, ingest, MQTT, fault
rules and retention. Every one has defaults that suit a city; the file names what differs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from lighting.config.section import Section
from lighting.errors import ConfigError
from lighting.keys import check_private

IngestStack = Literal["lean", "aiomqtt"]
"""The MQTT ingest's client: the lean subscriber, or aiomqtt (the reference)."""


class CoapConfig(Section):
    stack: Literal["lean", "aiocoap"] = Field(
        default="lean",
        description="lean: citylight's RFC 7252 path for the hot loops; aiocoap: the reference",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=5683, ge=0, le=65535)
    ack_timeout_s: float = Field(
        default=2.0, ge=0.05, le=60, description="RFC 7252 ACK_TIMEOUT for commands"
    )
    max_retransmit: int = Field(default=4, ge=0, le=8, description="RFC 7252 MAX_RETRANSMIT")
    receive_buffer_bytes: int = Field(
        default=4 * 1024 * 1024, ge=65_536, le=1 << 30, description="SO_RCVBUF of the socket"
    )
    security: Literal["oscore", "insecure"] = Field(
        default="oscore",
        description="oscore: every command and uplink protected (RFC 8613); insecure: labs only",
    )
    keys: Path | None = Field(
        default=None, description="the key directory of `lighting keys provision` (oscore)"
    )

    def key_directory(self) -> Path | None:
        """The key directory when OSCORE is on, None when the setting says ``insecure``;
        ``ConfigError`` naming ``[coap]`` when the two settings cannot work together."""
        if self.security == "insecure":
            return None
        if self.stack != "lean":
            raise ConfigError(
                'OSCORE runs on the lean stack: stack = "aiocoap" needs security = "insecure"',
                source="[coap]",
                key="security",
            )
        if self.keys is None:
            raise ConfigError(
                'security = "oscore" needs keys = the directory made by `lighting keys '
                'provision` (or security = "insecure", for a lab)',
                source="[coap]",
                key="keys",
            )
        return self.keys


class DeliveryConfig(Section):
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


class ContactConfig(Section):
    missed_reports: int = Field(default=3, ge=1, le=1000)
    check_interval_s: float = Field(default=5.0, gt=0, le=3600)


class IngestConfig(Section):
    batch_size: int = Field(default=500, ge=1, le=100_000)
    max_delay_s: float = Field(default=0.0, ge=0, le=10)
    """How long a batch may wait to fill; 0 writes it as soon as the one before is stored."""
    buffer: int = Field(default=100_000, ge=1)


class MqttConfig(Section):
    """A broker: where a city's NB-IoT platform forwards lamp data, and where events go out.

    Off by default: the controller runs without a broker (the demo does)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str = Field(default="citylight-controller", min_length=1, max_length=64)
    username: str | None = None
    password: SecretStr | None = None
    topic_root: str = Field(default="citylight", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    subscribe: bool = Field(default=True, description="take lamp telemetry from the broker")
    publish: bool = Field(default=True, description="publish lamp states and fault events")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    ingest_stack: IngestStack = Field(
        default="lean",
        description="lean: citylight's MQTT 3.1.1 subscriber for telemetry; aiomqtt: the reference",
    )
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)
    publish_buffer: int = Field(
        default=10_000, ge=1, le=10_000_000, description="events kept while the broker is away"
    )
    tls: bool = Field(default=False, description="connect over TLS (the broker's port 8883)")
    ca_file: Path | None = Field(
        default=None, description="CA certificates that sign the broker's (default: the system's)"
    )
    cert_file: Path | None = Field(default=None, description="the controller's client certificate")
    key_file: Path | None = Field(
        default=None, description="its private key: readable by the daemon's user only"
    )

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        """The TLS files exist, the certificate comes with its key, and the key is not
        readable by others (a key others can read is as good as published)."""
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if not self.tls and (self.ca_file or self.cert_file):
            raise ValueError("ca_file, cert_file and key_file need tls = true")
        for path in (self.ca_file, self.cert_file, self.key_file):
            if path is not None and not path.is_file():
                raise ValueError(f"{path}: no such file")
        if self.key_file is not None:
            try:
                check_private(self.key_file)  # as the OSCORE key files are checked
            except ConfigError as err:
                raise ValueError(f"key_file {err}") from err
        return self


class FaultsConfig(Section):
    """The rules by which the controller infers faults from what the lamps report."""

    settle_s: float = Field(
        default=120.0, ge=0, le=3600, description="after a change, before lamps are judged"
    )
    confirm_reports: int = Field(
        default=2, ge=1, le=100, description="reports in a row before an inferred fault opens"
    )
    power_tolerance: float = Field(
        default=0.25, gt=0, le=10, description="share of the expected power allowed either way"
    )
    power_slack_w: float = Field(default=5.0, ge=0, le=1000, description="absolute slack")
    voltage_min_v: float = Field(default=207.0, ge=0, le=1000)
    voltage_max_v: float = Field(default=253.0, ge=0, le=1000)
    flap_window_s: float = Field(
        default=3600.0, ge=0, le=7 * 86_400, description="a fault back within this is reopened"
    )
    incident_min_lamps: int = Field(
        default=5, ge=2, le=100_000, description="lamps of one cell that make an incident"
    )
    incident_share: float = Field(
        default=0.5, gt=0, le=1, description="share of a cell's lamps that make an incident"
    )


class RetentionConfig(Section):
    """How long history is kept; hourly roll-ups outlive the raw reports."""

    reports_days: int = Field(default=90, ge=1, le=36_500)
    hourly_days: int = Field(default=3650, ge=1, le=36_500)
    prune_interval_s: float = Field(default=3600.0, gt=0, le=86_400)
    rollup_interval_s: float = Field(
        default=300.0, gt=0, le=86_400, description="how often reports are rolled up by hour"
    )


class MemoryConfig(Section):
    """How the daemon keeps the garbage collector off its long-lived objects (the lamps it
    holds): see ``lighting.controller.memory``."""

    tune: bool = Field(default=True, description="freeze long-lived objects, collect less often")
    young_threshold: int = Field(
        default=10_000, ge=100, le=1_000_000, description="allocations between collections"
    )
    settle_interval_s: float = Field(
        default=900.0, ge=1, le=86_400, description="how often new long-lived objects freeze"
    )
    full_every: int = Field(
        default=96, ge=1, le=100_000, description="settles between two full collections"
    )


class MetricsConfig(Section):
    """Health and counters over HTTP (Prometheus text format), for monitoring."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", description="loopback unless a scraper needs more")
    port: int = Field(default=9464, ge=0, le=65535, description="0 takes a free port")


class ControlConfig(Section):
    """The daemon's local control channel (a Unix socket) for the dashboard and the CLI."""

    enabled: bool = True
    socket: str = Field(
        default="citylight.sock", min_length=1, max_length=100, description="its path"
    )
    client_buffer: int = Field(
        default=10_000, ge=10, le=1_000_000, description="notices kept for a slow view"
    )
