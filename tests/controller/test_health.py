"""Health and counters over HTTP: what a monitoring system scrapes from the daemon, read
over a real TCP connection on loopback."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from lighting.config import Settings
from lighting.controller import Controller
from lighting.controller.health import exposition, metric_name
from lighting.storage import make_engine
from tests.conftest import make_settings

WAIT_S = 10.0


async def _get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    """One HTTP request; the status, the content type and the body."""
    async with asyncio.timeout(WAIT_S):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        await writer.drain()
        answer = await reader.read()
        writer.close()
    head, _, body = answer.decode().partition("\r\n\r\n")
    status = int(head.split()[1])
    kind = re.search(r"Content-Type: (.*)", head)
    return status, kind.group(1).strip() if kind else "", body


@pytest.fixture
def metrics_settings(db_url: str, coap_port: int) -> Settings:
    return make_settings(db_url, coap_port, metrics={"enabled": True, "port": 0})


def test_counter_names_become_prometheus_names() -> None:
    assert metric_name("coap.refused.report.bad-payload") == (
        "citylight_coap_refused_report_bad_payload"
    )
    text = exposition({"reports.newest": 3}, {"lamps": (12, "lamps known")})
    assert text.splitlines() == [
        "# HELP citylight_lamps lamps known",
        "# TYPE citylight_lamps gauge",
        "citylight_lamps 12",
        "# TYPE citylight_reports_newest_total counter",
        "citylight_reports_newest_total 3",
    ]


async def test_metrics_and_health_are_served_on_loopback(metrics_settings: Settings) -> None:
    async with Controller(metrics_settings) as controller:
        assert controller.health is not None
        port = controller.health.port
        assert port != 0
        controller.counters.incr("coap.refused.report.bad-payload", 2)

        status, kind, body = await _get(port, "/metrics")
        assert status == 200
        assert kind.startswith("text/plain; version=0.0.4")
        samples = dict(
            line.rsplit(" ", 1) for line in body.splitlines() if not line.startswith("#")
        )
        assert samples["citylight_coap_refused_report_bad_payload_total"] == "2"
        assert samples["citylight_up"] == "1"
        assert samples["citylight_lamps"] == "0"

        status, kind, body = await _get(port, "/health")
        assert (status, kind) == (200, "application/json")
        health = json.loads(body)
        assert health["status"] == "ok"
        assert health["problems"] == []

        assert (await _get(port, "/nothing"))[0] == 404
        assert (await _get(port, "/metrics", method="POST"))[0] == 405
        async with asyncio.timeout(WAIT_S):  # not HTTP at all
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"\x00\x01 hello\r\n\r\n")
            assert (await reader.read()).startswith(b"HTTP/1.1 400")
            writer.close()
        # The daemon serves on after all of it.
        assert (await _get(port, "/health"))[0] == 200


async def test_health_fails_when_the_database_does_not_answer(metrics_settings: Settings) -> None:
    async with Controller(metrics_settings) as controller:
        assert controller.health is not None
        # The database goes away: a real SQLite engine on a path that cannot be opened.
        repository = controller.repository
        working, repository.engine = (
            repository.engine,
            make_engine("sqlite:////nonexistent/dir/citylight.db"),
        )
        try:
            status, _, body = await _get(controller.health.port, "/health")
        finally:
            repository.engine.dispose()
            repository.engine = working
    assert status == 503
    health = json.loads(body)
    assert health["status"] == "failing"
    assert health["problems"][0].startswith("database")


async def test_a_port_in_use_is_refused_with_its_address(metrics_settings: Settings) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    taken = metrics_settings.model_copy(
        update={"metrics": metrics_settings.metrics.model_copy(update={"port": port})}
    )
    try:
        with pytest.raises(Exception, match=f"http://127.0.0.1:{port}"):
            async with Controller(taken):
                pass
    finally:
        server.close()
