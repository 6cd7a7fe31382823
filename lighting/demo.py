"""The demo: a simulated city and the controller in one event loop, narrated.

It registers a fleet, prints tonight's plan, plays the night as a time-lapse (each change of
the plan applied in order, with the instant passed in rather than waited for), injects a
lamp failure and a lamp that falls silent, shows the faults the controller found, and ends.
With ``forever`` it then runs the real night (APScheduler) until interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
from datetime import datetime
from pathlib import Path

from rich.console import Console

from lighting.config import Settings, load_settings
from lighting.controller import Controller, night_of, utc_now
from lighting.errors import LightingError
from lighting.faultviews import faults_table
from lighting.keys import KeyStore, provision
from lighting.model import FaultKind
from lighting.views import change_line, lamps_table, plans_table
from simulator import LampSpec, Simulator, build_fleet

log = logging.getLogger(__name__)


class DemoError(LightingError):
    """The demo cannot run as asked."""


DEMO_REPORT_PERIOD_S = 2
DEMO_MISSED_REPORTS = 2


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


_MARKER = ".citylight-demo"


def _fresh_dir(path: Path) -> None:
    """Empty the demo's own directory; refuse any other directory that holds files."""
    if path.exists() and any(path.iterdir()) and not (path / _MARKER).exists():
        raise DemoError(f"{path} is not empty and not a demo directory: choose another --data-dir")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    (path / _MARKER).write_text("made by `lighting demo`; removed by the next demo\n")


async def run_demo(
    *,
    lamps: int = 60,
    data_dir: Path = Path(".citylight-demo"),
    base_address: str = "127.1.0.1",
    forever: bool = False,
    console: Console | None = None,
    now: datetime | None = None,
) -> int:
    """Run the demo; the number of faults found (the demo's result)."""
    out = console or Console()
    await asyncio.to_thread(_fresh_dir, data_dir)
    db = data_dir / "citylight.db"
    keys = data_dir / "keys"
    port = free_udp_port()
    settings = load_settings(
        None,
        database_url=f"sqlite:///{db}",
        control={"socket": str(data_dir / "citylight.sock")},
        metrics={"port": 0},
        contact={"missed_reports": DEMO_MISSED_REPORTS, "check_interval_s": 0.5},
        coap={
            "host": "127.0.0.1",
            "port": port,
            "ack_timeout_s": 0.3,
            "max_retransmit": 2,
            "security": "oscore",
            "keys": str(keys),
        },
        delivery={"concurrency": 64, "max_attempts": 2, "backoff_s": 0.5, "jitter_s": 0.1},
    )
    start = now or utc_now()
    specs = build_fleet(
        lamps,
        zones=list(settings.zones),
        base_address=base_address,
        port=port,
        report_period_s=DEMO_REPORT_PERIOD_S,
        centre=(settings.site.latitude, settings.site.longitude),
    )
    # What `lighting keys provision` does: a key of its own for every lamp (RFC 8613).
    await asyncio.to_thread(provision, keys, [spec.lamp_id for spec in specs])
    out.rule("[bold]citylight demo")
    out.print(f"controller on coap://127.0.0.1:{port}, database {db}")
    out.print(f"OSCORE: every command and report protected, a key per lamp in {keys}")
    with KeyStore(keys, "lamps") as lamp_keys:
        return await _demo(settings, specs, lamp_keys, out, start=start, forever=forever)


async def _demo(
    settings: Settings,
    specs: list[LampSpec],
    lamp_keys: KeyStore,
    out: Console,
    *,
    start: datetime,
    forever: bool,
) -> int:
    tz = settings.site_value.tzinfo
    db = settings.database_url.removeprefix("sqlite:///")
    async with (
        Controller(settings) as controller,
        Simulator(specs, controller.address, keys=lamp_keys) as sim,
    ):
        async with asyncio.timeout(30):
            await sim.wait_registered()
        zones = {zone: len(controller.registry.in_zone(zone)) for zone in settings.zones}
        out.print(
            f"{len(sim)} lamps registered: "
            + ", ".join(f"{n} in {zone}" for zone, n in zones.items())
        )

        night = night_of(start, settings)
        plans = controller.plans(night)
        out.print(plans_table(plans))

        out.rule("tonight as a time-lapse: each change applied at its planned instant")
        steps = sorted(
            (change.at, zone, change.level, plan.program.name)
            for zone, plan in plans.items()
            for change in plan.changes
        )
        failed_lamp, silent_lamp = specs[0].lamp_id, specs[1].lamp_id
        for index, (at, zone, level, program) in enumerate(steps):
            if index == len(steps) // 2:
                out.print(
                    f"[yellow]lamp {failed_lamp}: its LED module fails; "
                    f"lamp {silent_lamp}: its modem goes silent"
                )
                sim.inject(failed_lamp, FaultKind.LAMP_FAILURE)
                await sim.silence(silent_lamp)
            change = await controller.apply_level(zone, level, f"program {program}", at)
            out.print(change_line(change, tz))

        out.rule("faults found")
        if controller.faults is not None:
            try:
                async with asyncio.timeout(DEMO_REPORT_PERIOD_S * (DEMO_MISSED_REPORTS + 4)):
                    await controller.faults.wait_opened(2)
            except TimeoutError:
                out.print("[red]not every fault was found in time")
        faults = await controller.store.call(controller.repository.faults)
        out.print(faults_table(faults, tz))
        # One report period, so that the lamps have reported the night's last change.
        await asyncio.sleep(DEMO_REPORT_PERIOD_S * 1.2)
        records = await controller.store.call(controller.repository.lamps)
        out.print(lamps_table(records[:6], tz, title=f"6 of {len(records)} lamps"))
        refused = controller.counters.total("coap.refused")
        out.print(
            f"uplinks accepted: {controller.counters.total('coap.accepted')}, refused: {refused}"
        )
        out.print(f"see them again: lighting faults --db sqlite:///{db}")
        if forever:
            out.rule("running tonight for real (Ctrl-C to stop)")
            stop = asyncio.Event()
            with contextlib.suppress(asyncio.CancelledError):
                await controller.serve(stop)
        return len(faults)
