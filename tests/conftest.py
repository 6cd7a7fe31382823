"""Shared fixtures: free ports, private loopback ranges, settings on a temporary SQLite file,
and the PostgreSQL URL when the server is reachable."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from lighting.config import Settings, load_settings
from simulator import LampNode, LampSpec

# CI explores a fixed set of examples (derandomized) so that a landing never depends on
# luck; runs on a developer's machine keep exploring new ones.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

# Two endpoints on one address must fail, not share traffic (read by aiocoap at bind time).
os.environ["AIOCOAP_REUSE_PORT"] = "0"

POSTGRES_URL = os.environ.get(
    "CITYLIGHT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_ranges = itertools.count(20 + os.getpid() % 100)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def lamp_base() -> str:
    """A loopback range of its own for this test's lamps: 127.N.0.1 upwards."""
    return f"127.{next(_ranges) % 200 + 20}.0.1"


@pytest.fixture
def coap_port() -> int:
    return free_udp_port()


@contextlib.asynccontextmanager
async def open_lamp(
    lamp_id: str, address: str, port: int, controller: tuple[str, int], seed: int
) -> AsyncIterator[LampNode]:
    """One simulated 80 W lamp of zone centre, a CoAP endpoint at ``address:port`` that
    sends its uplinks to ``controller``."""
    spec = LampSpec(
        lamp_id=lamp_id,
        zone="centre",
        latitude=36.7,
        longitude=119.1,
        wattage=80,
        address=address,
        port=port,
    )
    loop = asyncio.get_running_loop()
    node = LampNode(spec, controller, clock=loop.time, rng=random.Random(seed))
    await node.open()
    try:
        yield node
    finally:
        await node.close()


def make_settings(db_url: str, port: int, **overrides: Any) -> Settings:
    """Settings for a test: quick CoAP retransmissions (an attempt ends within ~3 s)."""
    coap = {
        "host": "127.0.0.1",
        "port": port,
        "ack_timeout_s": 0.3,
        "max_retransmit": 2,
        "security": "insecure",  # tests/transports/test_oscore.py runs it secured
    }
    overrides.setdefault("control", {"enabled": False})
    overrides.setdefault("metrics", {"enabled": False})
    # The test process holds every test's objects: a controller that froze them at each
    # start would walk them all each time. tests/controller/test_memory.py covers it.
    overrides.setdefault("memory", {"tune": False})
    return load_settings(None, database_url=db_url, coap=coap, **overrides)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'citylight.db'}"


@pytest.fixture
def settings(db_url: str, coap_port: int) -> Settings:
    return make_settings(db_url, coap_port, delivery={"concurrency": 32, "jitter_s": 0.05})


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL database, dropped afterwards; skip if unreachable."""
    psycopg = pytest.importorskip("psycopg")
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    schema = f"citylight_test_{os.getpid()}_{next(_ranges)}"
    try:
        with psycopg.connect(plain, connect_timeout=3, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {err}")
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
