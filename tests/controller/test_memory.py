"""The collector's tuning: what settles is frozen, cyclic garbage is still freed, and the
process gets CPython's settings back when the last controller stops."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from lighting.config import MemoryConfig, Settings
from lighting.controller import Controller
from lighting.controller.memory import Collector
from lighting.metrics import Counters
from tests.conftest import make_settings


class _Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _cycle() -> weakref.ref[_Node]:
    return weakref.ref(_Node())


@pytest.fixture(autouse=True)
def _untouched() -> Iterator[None]:
    """Each test starts and must end with CPython's settings and nothing frozen."""
    gc.unfreeze()
    before = gc.get_threshold()
    yield
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_settle_frees_cyclic_garbage_and_freezes_what_lives() -> None:
    counters = Counters()
    config = MemoryConfig(young_threshold=5_000, full_every=100)
    with Collector(config, counters) as collector:
        assert gc.get_threshold()[0] == 5_000
        dead = _cycle()
        alive = _Node()
        assert dead() is not None  # a cycle waits for the collector
        frozen = collector.settle()
        assert dead() is None
        assert frozen == gc.get_freeze_count() > 0
        assert counters["gc.settles"] == 1
        assert counters["gc.freed"] >= 1  # the node, at least
        # What settled is out of the collector's way: no longer among the tracked objects.
        assert not any(o is alive for o in gc.get_objects())
        later = _Node()
        assert any(o is later for o in gc.get_objects())
        # A young settle walks only what came since: a frozen cycle dropped now stays.
        probe = weakref.ref(alive)
        del alive
        collector.settle()
        assert probe() is not None
    # On exit everything is unfrozen: the next collection frees it.
    gc.collect()
    assert probe() is None


def test_a_full_settle_frees_a_frozen_cycle_that_died() -> None:
    with Collector(MemoryConfig(full_every=2), Counters()) as collector:
        node = _Node()
        probe = weakref.ref(node)
        collector.settle()  # full: the first one
        del node
        collector.settle()  # young: the frozen cycle is not looked at
        assert probe() is not None
        collector.settle()  # full again
        assert probe() is None


def test_without_tuning_nothing_changes() -> None:
    before = gc.get_threshold()
    with Collector(MemoryConfig(tune=False), Counters()) as collector:
        assert gc.get_threshold() == before
        assert collector.settle() == 0
        assert gc.get_freeze_count() == 0


def test_side_by_side_the_last_one_out_restores() -> None:
    before = gc.get_threshold()
    first = Collector(MemoryConfig(young_threshold=4_000), Counters())
    second = Collector(MemoryConfig(young_threshold=6_000), Counters())
    with first:
        second.__enter__()
        assert gc.get_threshold()[0] == 6_000
        first.settle()
    # The first left; the second still runs tuned and frozen.
    assert gc.get_threshold()[0] == 6_000
    assert gc.get_freeze_count() > 0
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


def test_the_settings_refuse_a_collector_that_would_never_run() -> None:
    with pytest.raises(ValueError, match="young_threshold"):
        MemoryConfig(young_threshold=10)
    with pytest.raises(ValueError, match="settle_interval_s"):
        MemoryConfig(settle_interval_s=0)


async def test_the_controller_settles_when_it_is_up(db_url: str, coap_port: int) -> None:
    tuned: Settings = make_settings(db_url, coap_port, memory={"young_threshold": 7_000})
    async with Controller(tuned) as controller:
        assert gc.get_threshold()[0] == 7_000
        assert controller.counters["gc.settles"] == 1
        assert gc.get_freeze_count() > 0
