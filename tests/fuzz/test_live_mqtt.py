"""The controller's MQTT ingest under fuzzing, through a Mosquitto of the test's own.

One controller and one ingest per test serve every example. Each example publishes (QoS 1)
a batch of random and mutated payloads on valid and odd topics, waits (bounded) until the
ingest has handled every message under ``{root}/up/``, and checks:

- each was counted once: ``mqtt.refused.<why>``, ``mqtt.accepted.<kind>`` or
  ``mqtt.failed.storage``, never ``mqtt.failed.internal`` (an exception the ingest did not
  expect: a bug);
- a report that must be refused (a marker) is counted ``mqtt.refused.bad-payload``, and a
  valid report after the batch is stored;
- nothing was logged at ERROR and what the lamps had stored before is still stored.

Topics the broker itself refuses (wildcards, NUL, control characters, non-characters) are
not published: the broker would drop the publisher's connection, not the controller's.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lighting.config import Settings
from lighting.controller import Controller
from lighting.model import Registration
from lighting.protocol import Topics, UplinkKind
from lighting.transports import MqttIngest
from tests.fuzz import live
from tests.fuzz.strategies import LAMP_IDS, budget, hostile_payloads, valid_payloads
from tests.mqtt_broker import (
    WAIT_S,
    AnyBroker,
    controller_config,
    publish,
    running,
    running_broker,
)

LAMPS = ("L1", "L2", "L3")
ZONE = "centre"
KINDS = {"report": UplinkKind.REPORT, "fault": UplinkKind.FAULT}

Message = tuple[str, bytes]

# A failing example with a long line (or payload) is shown shortened, not refused.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)


def publishable(topic: str) -> bool:
    """What Mosquitto takes as a topic to publish to (its UTF-8 check, MQTT 3.1.1 4.7)."""
    for char in topic:
        point = ord(char)
        if char in "+#" or point <= 0x1F or 0x7F <= point <= 0x9F:
            return False
        if 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE:
            return False
    return 0 < len(topic.encode()) <= 65_535


levels = st.text(max_size=12) | st.sampled_from(["", " ", "..", "$SYS", "report", "Centre"])


@st.composite
def uplinks(draw: st.DrawFn, root: str) -> Message:
    """A message as a city's platform forwards it: mostly a payload on its lamp's topic,
    sometimes on a topic that is odd in one way or another."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    lamp = draw(st.sampled_from(LAMPS) | LAMP_IDS)
    payload = draw(
        valid_payloads(kind, st.just(lamp))
        | hostile_payloads(kind, random_size=100, lamp_ids=st.sampled_from(LAMPS))
        | st.integers(1025, 200_000).map(lambda size: b"\xa1" * size)
    )
    parts = [root, "up", ZONE, lamp, kind]
    odd = draw(st.integers(0, 7))
    if odd == 1:  # a level replaced
        parts[draw(st.integers(2, 4))] = draw(levels)
    elif odd == 2:  # a level more or less
        if draw(st.booleans()):
            parts.insert(draw(st.integers(2, 5)), draw(levels))
        else:
            del parts[draw(st.integers(2, 4))]
    elif odd == 3:  # a level of 20,000 characters
        parts[draw(st.integers(2, 4))] = "x" * 20_000
    elif odd == 4:  # outside the uplinks: the controller never sees it
        parts[1] = draw(st.sampled_from(["lamp", "event", "upp", "UP"]))
    topic = "/".join(parts)
    return (topic if publishable(topic) else "/".join([root, "up", ZONE, lamp, kind])), payload


@dataclass
class Ingested:
    """The controller, its MQTT ingest, and what the lamps had stored before the fuzzing."""

    controller: Controller
    ingest: MqttIngest
    broker: AnyBroker
    stored: dict[str, set[int]] = field(default_factory=dict)
    seqs: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    @property
    def topics(self) -> Topics:
        return self.ingest.topics

    async def handled(self, messages: list[Message]) -> None:
        """Publish ``messages`` and wait until the ingest has handled those it gets."""
        seen = self.ingest.handled
        ours = [m for m in messages if m[0].startswith(f"{self.topics.root}/up/")]
        await publish(self.broker, messages)
        async with asyncio.timeout(WAIT_S):
            await self.ingest.wait_handled(seen + len(ours))


@pytest.fixture
async def ingested(settings: Settings, tmp_path: Path) -> AsyncIterator[Ingested]:
    with running_broker(tmp_path / "mosquitto") as broker:
        config = controller_config(broker)
        async with Controller(settings) as controller:
            assert controller.ingest is not None
            for lamp in LAMPS:
                registration = Registration(
                    lamp_id=lamp, seq=1, zone=ZONE, latitude=36.7, longitude=119.1, wattage=90
                )
                await controller.ingest.on_registration(registration, "127.0.0.1", 9)
            ingest = MqttIngest(config, controller.ingest, controller.counters)
            async with running(ingest.run(), ingest.connected):
                served = Ingested(controller, ingest, broker)
                first = [
                    (served.topics.uplink(ZONE, lamp, UplinkKind.REPORT), live.report(lamp, seq))
                    for lamp in LAMPS
                    for seq in (2, 3, 4)
                ]
                await served.handled(first)
                served.stored = await live.stored(controller, LAMPS)
                assert served.stored == {lamp: {2, 3, 4} for lamp in LAMPS}
                yield served


def _counted(counts: dict[str, int]) -> int:
    prefixes = ("mqtt.refused.", "mqtt.accepted.", "mqtt.failed.")
    return sum(n for name, n in counts.items() if name.startswith(prefixes))


@st.composite
def batches(draw: st.DrawFn) -> list[Message]:
    return draw(st.lists(uplinks(ROOT), min_size=10, max_size=30))


ROOT = "fuzz-root"
"""Batches are drawn under this root and moved to the test's own when published."""


@given(batch=batches())
@budget(40, live=True)
# Bug: an integer past the float range escaped the codec as OverflowError, counted as
# mqtt.failed.internal instead of a refusal.
@example(batch=[(f"{ROOT}/up/{ZONE}/L1/report", live.HUGE_POWER)])
async def test_the_mqtt_ingest_refuses_and_counts_every_bad_uplink(
    ingested: Ingested, caplog: pytest.LogCaptureFixture, batch: list[Message]
) -> None:
    controller = ingested.controller
    root = ingested.topics.root
    messages = [(root + topic.removeprefix(ROOT), payload) for topic, payload in batch]
    before = controller.counters.snapshot()
    ours = sum(topic.startswith(f"{root}/up/") for topic, _ in messages)
    await ingested.handled(messages)
    after = controller.counters.snapshot()
    shown = {name: n - before.get(name, 0) for name, n in after.items() if name.startswith("mqtt")}
    assert _counted(after) - _counted(before) == ours, shown
    assert after.get("mqtt.failed.internal", 0) == 0, shown

    # A bad report is refused and counted, a good one stored: the ingest goes on.
    seq = next(ingested.seqs)
    topic = ingested.topics.uplink(ZONE, LAMPS[0], UplinkKind.REPORT)
    refused = controller.counters["mqtt.refused.bad-payload"]
    await ingested.handled([(topic, b"\xff"), (topic, live.report(LAMPS[0], seq))])
    assert controller.counters["mqtt.refused.bad-payload"] == refused + 1
    now = await live.stored(controller, LAMPS)
    assert seq in now[LAMPS[0]]
    for lamp, seqs in ingested.stored.items():
        assert seqs <= now[lamp], f"{lamp} lost reports {sorted(seqs - now[lamp])}"
    gc.collect()  # a task that failed unseen is reported when it is collected
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
