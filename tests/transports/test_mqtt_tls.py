"""The controller's broker connection over TLS, against a real Mosquitto with a TLS
listener that requires a client certificate. The certificates (a CA, the broker's for
127.0.0.1, the controller's and a lamp platform's) are made for each test with the
system's ``openssl``; nothing of TLS is mocked."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from pydantic import ValidationError

from lighting.config import MqttConfig
from lighting.controller import Controller
from lighting.errors import BrokerError
from lighting.protocol import Topics, UplinkKind
from lighting.transports.mqtt import MqttIngest, tls_context
from lighting.transports.mqtt_lean import Subscriber
from tests.mqtt_broker import WAIT_S, Broker, mosquitto_binary, running, unique
from tests.transports.test_mqtt import _all_stored, _report, _stored


@dataclass(frozen=True)
class Pki:
    ca: Path
    broker: tuple[Path, Path]
    controller: tuple[Path, Path]
    platform: tuple[Path, Path]


def _openssl(tool: str, *args: str | Path) -> None:
    subprocess.run(  # noqa: S603 - the system's openssl, our arguments
        [tool, *map(str, args)], check=True, capture_output=True, timeout=30
    )


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    tool = shutil.which("openssl")
    if tool is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path / "pki"
    folder.mkdir()
    ca_key, ca = folder / "ca.key", folder / "ca.crt"
    _openssl(
        tool, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=citylight test CA", "-keyout", ca_key, "-out", ca,
    )  # fmt: skip

    def issue(name: str, subject: str, *extensions: str) -> tuple[Path, Path]:
        key, request, cert = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.crt"
        _openssl(
            tool, "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
            "-keyout", key, "-out", request,
        )  # fmt: skip
        extra = folder / f"{name}.ext"
        extra.write_text("\n".join(extensions) + "\n")
        _openssl(
            tool, "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "2", "-extfile", extra, "-out", cert,
        )  # fmt: skip
        key.chmod(0o600)
        return cert, key

    return Pki(
        ca=ca,
        broker=issue("broker", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1"),
        controller=issue("controller", "/CN=citylight-controller", "extendedKeyUsage=clientAuth"),
        platform=issue("platform", "/CN=nbiot-platform", "extendedKeyUsage=clientAuth"),
    )


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[Broker]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed")
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    cert, key = pki.broker
    broker = Broker(
        binary,
        workdir,
        access=[
            f"cafile {pki.ca}",
            f"certfile {cert}",
            f"keyfile {key}",
            "require_certificate true",
            "use_identity_as_username true",
        ],
    )
    with broker:
        yield broker


def _config(broker: Broker, pki: Pki, **given: object) -> MqttConfig:
    cert, key = pki.controller
    values: dict[str, object] = {
        "enabled": True,
        "host": broker.host,
        "port": broker.port,
        "client_id": unique("tls"),
        "topic_root": unique("t"),
        "keepalive_s": 5,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.5,
        "tls": True,
        "ca_file": pki.ca,
        "cert_file": cert,
        "key_file": key,
    }
    return MqttConfig.model_validate(values | given)


def _subscriber(broker: Broker, context: ssl.SSLContext | None) -> Subscriber:
    """The ingest's lean subscriber, as the ingest would make it."""
    return Subscriber(
        broker.host,
        broker.port,
        client_id=unique("lean"),
        clean_session=True,
        keepalive_s=5,
        tls_context=context,
        timeout_s=2,
    )


def _platform(broker: Broker, pki: Pki) -> aiomqtt.Client:
    context = ssl.create_default_context(cafile=pki.ca)
    context.load_cert_chain(*pki.platform)
    return aiomqtt.Client(broker.host, broker.port, identifier="platform", tls_context=context)


@pytest.mark.parametrize("stack", ["lean", "aiomqtt"])
async def test_reports_come_in_over_tls_with_a_client_certificate(
    tls_broker: Broker, pki: Pki, controller: Controller, stack: str
) -> None:
    assert controller.ingest is not None
    config = _config(tls_broker, pki, ingest_stack=stack)
    ingest = MqttIngest(config, controller.ingest, controller.counters)
    topic = Topics(config.topic_root).uplink("centre", "L1", UplinkKind.REPORT)
    async with running(ingest.run(), ingest.connected):
        async with _platform(tls_broker, pki) as platform:
            await platform.publish(topic, _report("L1", 5), qos=1)
        async with asyncio.timeout(WAIT_S):
            await _all_stored(ingest, controller, 1)
    assert await _stored(controller, "L1") == [5]


# paho leaves the socket of a failed handshake to the garbage collector (a ResourceWarning).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_the_broker_certificate_is_verified(tls_broker: Broker, pki: Pki) -> None:
    # Without the city's CA, the controller does not trust the broker: no connection.
    context = tls_context(_config(tls_broker, pki, ca_file=None))
    client = aiomqtt.Client(tls_broker.host, tls_broker.port, tls_context=context)
    async with asyncio.timeout(WAIT_S):
        with pytest.raises(aiomqtt.MqttError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.__aenter__()
        with pytest.raises(BrokerError, match="CERTIFICATE_VERIFY_FAILED"):
            await _subscriber(tls_broker, context).__aenter__()


async def test_the_broker_refuses_a_client_without_a_certificate(
    tls_broker: Broker, pki: Pki
) -> None:
    context = tls_context(_config(tls_broker, pki, cert_file=None, key_file=None))
    client = aiomqtt.Client(tls_broker.host, tls_broker.port, tls_context=context, timeout=2)
    # TLS 1.3: the handshake ends on the client's side before the broker checks for a
    # certificate; the broker then closes the connection and no CONNACK ever comes.
    async with asyncio.timeout(WAIT_S):
        with pytest.raises(aiomqtt.MqttError):
            await client.__aenter__()
        with pytest.raises(BrokerError):
            await _subscriber(tls_broker, context).__aenter__()


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path, pki: Pki) -> None:
    cert, key = pki.controller
    key.chmod(0o644)
    refused = r"key_file .*: readable or writable by others \(mode 0644\): chmod 600"
    with pytest.raises(ValidationError, match=refused):
        MqttConfig(tls=True, cert_file=cert, key_file=key)
    key.chmod(0o600)
    assert MqttConfig(tls=True, cert_file=cert, key_file=key).key_file == key


def test_tls_files_must_be_complete_and_exist(tmp_path: Path, pki: Pki) -> None:
    cert, _ = pki.controller
    with pytest.raises(ValidationError, match="cert_file and key_file go together"):
        MqttConfig(tls=True, cert_file=cert)
    with pytest.raises(ValidationError, match="need tls = true"):
        MqttConfig(ca_file=pki.ca)
    with pytest.raises(ValidationError, match="no such file"):
        MqttConfig(tls=True, ca_file=tmp_path / "missing.crt")
