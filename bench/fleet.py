"""Simulator scale: start-up time, memory per lamp and descriptors of a city of N lamps.

``python -m bench.fleet 10000 100000`` measures each size in a fresh process and prints a
table (``--json FILE`` also writes the rows). A city of the packaged default profile, scaled
to N lamps, listens from ``127.70.0.1`` upwards on port 5699; radio latency and loss are off
(``--radio`` turns the profile's coverage classes on), the planned faults are off and the
report period is a day, so that nothing but start-up is timed. Every figure is measured:

- ``build_s``: the city built from the profile (lamp specs, cells, fallback programs).
- ``ready_s``: from there to every lamp's endpoint open: the shared socket bound and every
  lamp attached to it (``--mode shared``), one socket per lamp (``per-lamp``), or one aiocoap
  server context per lamp (``aiocoap``: aiocoap's default server transports; ``aiocoap-udp``:
  its UDP transport only). The aiocoap modes hold no lamp state and do not register: they
  measure what the contexts cost by themselves, all serving one shared ``Site``.
- ``registered_s``: from the same instant to every lamp registered with the controller and
  its first report answered. The controller is a stub (``--controller stub``, the default: a
  process of its own that answers every confirmable POST with 2.01 as fast as one Python loop
  can, so that the fleet is what is timed) or citylight's controller (``--controller real``:
  a process of its own, lean CoAP stack, SQLite in a temporary directory).
- ``cpu_s``: CPU seconds of the simulator's process over ``ready_s`` and ``registered_s``.
- ``rss_mib``, ``kib_per_lamp``: the resident set of the process once every lamp is ready
  and registered, and its growth from before the city was built, per lamp;
  ``peak_rss_mib``: the process's high-water mark; ``open_fds``: its descriptors.
- ``answered``: after the figures above are taken, the stub's process sends a NON
  ``GET /.well-known/core`` to every lamp's address (256 in flight, one retry) and counts
  the 2.05 answers that came from the address asked (``wrong_source`` counts the others).
- ``load1``: the machine's one-minute load average before the run: other work on the two
  cores stretches the wall times (``cpu_s`` much less).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import ipaddress
import json
import multiprocessing
import os
import resource
import select
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any, Literal

from lighting.demo import free_udp_port
from lighting.errors import ProtocolError
from lighting.protocol import coapwire
from lighting.protocol.coapwire import GET, Message, Type
from simulator import City, Simulator, build_city, default_profile, ensure_fd_limit
from simulator.profile import FaultsTable
from simulator.runner import EndpointMode

LAMP_BASE = "127.70.0.1"
LAMP_PORT = 5699
REGISTER_TIMEOUT_S = 600.0
"""Longest wait for every lamp to register (the run then reports how many did)."""
PROBE_WINDOW = 256
PROBE_WAIT_S = 1.0
"""A probe unanswered after this is sent once more, then counted as unanswered."""
FD_MARGIN = 256
Mode = Literal["shared", "per-lamp", "aiocoap", "aiocoap-udp"]
ControllerKind = Literal["stub", "real"]
MODES: tuple[Mode, ...] = ("shared", "per-lamp", "aiocoap", "aiocoap-udp")
_WELL_KNOWN = coapwire.path_options((".well-known", "core"))


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


# -- the stub controller and prober (a process of its own) ------------------------------------


def _answer(server: socket.socket, sources: set[tuple[str, int]]) -> None:
    """Answer every confirmable POST waiting: ACK, 2.01 Created, same message id and token."""
    for _ in range(1024):
        try:
            data, remote = server.recvfrom(2048)
        except BlockingIOError:
            return
        if len(data) < 4 or data[0] >> 6 != 1 or (data[0] >> 4) & 3 != 0 or data[1] != 2:
            continue
        tkl = data[0] & 0x0F
        sources.add(remote)
        server.sendto(bytes((0x60 | tkl, 0x41)) + data[2 : 4 + tkl], remote)


class _Probe:
    """A sweep of NON ``GET /.well-known/core`` over lamp addresses (``first`` + index)."""

    def __init__(self, sock: socket.socket, base: str, indexes: list[int], port: int) -> None:
        self.sock, self.port = sock, port
        self.first = int(ipaddress.IPv4Address(base))
        self.todo = collections.deque(indexes)
        self.in_flight: dict[int, float] = {}
        self.tries: dict[int, int] = {}
        self.answered = self.lost = self.wrong_source = 0

    def address(self, index: int) -> str:
        return str(ipaddress.IPv4Address(self.first + index))

    @property
    def busy(self) -> bool:
        return bool(self.todo or self.in_flight)

    def send(self, now: float) -> None:
        while len(self.in_flight) < PROBE_WINDOW and self.todo:
            index = self.todo.popleft()
            self.tries[index] = self.tries.get(index, 0) + 1
            token = index.to_bytes(4, "big")
            request = Message(Type.NON, GET, index & 0xFFFF, token, _WELL_KNOWN)
            with contextlib.suppress(OSError):  # a full buffer: it times out and goes again
                self.sock.sendto(coapwire.encode(request), (self.address(index), self.port))
            self.in_flight[index] = now

    def receive(self) -> None:
        while True:
            try:
                data, remote = self.sock.recvfrom(2048)
            except BlockingIOError:
                return
            try:
                answer = coapwire.decode(data)
            except ProtocolError:
                continue
            index = int.from_bytes(answer.token, "big")
            if index not in self.in_flight or answer.code != coapwire.CONTENT:
                continue
            del self.in_flight[index]
            if remote[0] == self.address(index):
                self.answered += 1
            else:
                self.wrong_source += 1

    def expire(self, now: float) -> None:
        for index, sent in list(self.in_flight.items()):
            if now - sent > PROBE_WAIT_S:
                del self.in_flight[index]
                if self.tries[index] < 2:
                    self.todo.append(index)
                else:
                    self.lost += 1


def probe(
    sock: socket.socket, base: str, indexes: list[int], port: int, timeout_s: float
) -> dict[str, Any]:
    """GET ``/.well-known/core`` of the lamps at ``base`` + each of ``indexes`` on ``port``:
    how many answered 2.05 from the address asked, within ``timeout_s``."""
    sweep = _Probe(sock, base, indexes, port)
    started = time.monotonic()
    deadline = started + timeout_s
    while sweep.busy and time.monotonic() < deadline:
        sweep.send(time.monotonic())
        select.select([sock], [], [], 0.05)
        sweep.receive()
        sweep.expire(time.monotonic())
    return {
        "probed": len(indexes),
        "answered": sweep.answered,
        "wrong_source": sweep.wrong_source,
        "unanswered": len(indexes) - sweep.answered - sweep.wrong_source,
        "probe_s": round(time.monotonic() - started, 2),
    }


def stub_main() -> None:
    """The stub's process: answer POSTs; on a probe request (a JSON line on stdin: base,
    count, port, timeout_s, skip), probe and print the result as a JSON line; stop on
    ``quit`` or at the end of its input."""
    server, prober = _udp_socket(), _udp_socket()
    print(server.getsockname()[1], flush=True)
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    sources: set[tuple[str, int]] = set()
    while True:
        for key, _ in selector.select():
            if key.fileobj is server:
                _answer(server, sources)
                continue
            line = sys.stdin.readline()
            if not line.strip() or line.strip() == "quit":
                return
            asked = json.loads(line)
            skip = set(asked["skip"])
            indexes = [i for i in range(asked["count"]) if i not in skip]
            result = probe(prober, asked["base"], indexes, asked["port"], asked["timeout_s"])
            result["sources"] = len(sources)
            print(json.dumps(result), flush=True)


@dataclasses.dataclass
class Stub:
    """The stub controller's process, seen from the fleet's."""

    process: subprocess.Popen[str]
    address: tuple[str, int]

    def probe(self, run: Run, *, skip: list[int]) -> dict[str, Any]:
        """Have the stub probe the lamps of ``run`` but those at ``skip`` (blocking: run it
        in a thread)."""
        stdin, stdout = self._pipes()
        asked = {"base": run.base, "count": run.lamps, "port": run.port}
        asked["timeout_s"] = run.timeout_s
        stdin.write(json.dumps({**asked, "skip": skip}) + "\n")
        stdin.flush()
        result: dict[str, Any] = json.loads(stdout.readline())
        return result

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        return self.process.stdin, self.process.stdout


@contextlib.contextmanager
def stub_controller() -> Iterator[Stub]:
    """The stub's process on 127.0.0.1 (stopped on exit)."""
    with subprocess.Popen(
        [sys.executable, "-c", "from bench.fleet import stub_main; stub_main()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        stub = Stub(process, ("127.0.0.1", 0))
        stdin, stdout = stub._pipes()
        try:
            stub.address = ("127.0.0.1", int(stdout.readline()))
            yield stub
        finally:
            with contextlib.suppress(OSError):
                stdin.write("quit\n")
                stdin.flush()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.terminate()


# -- citylight's controller (a process of its own) --------------------------------------------


def _controller_main(workdir: str, port: int, pipe: Connection) -> None:
    """Run a controller on 127.0.0.1:``port`` until told to stop; then say what it saw."""
    # Imported here: the fleet's process must not carry the controller's modules.
    from lighting.config import load_settings  # noqa: PLC0415
    from lighting.controller import Controller  # noqa: PLC0415

    async def serve() -> dict[str, Any]:
        settings = load_settings(
            None,
            database_url=f"sqlite:///{workdir}/fleet.db",
            coap={"host": "127.0.0.1", "port": port, "security": "insecure"},
            contact={"missed_reports": 1000},
            control={"enabled": False},
            metrics={"enabled": False},  # no fixed port: benches may run side by side
        )
        async with Controller(settings) as controller:
            pipe.send(controller.address)
            await asyncio.to_thread(pipe.recv)
            known = len(controller.registry)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "controller_known": known,
            "controller_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "controller_peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        }

    pipe.send(asyncio.run(serve()))


@contextlib.contextmanager
def real_controller() -> Iterator[tuple[tuple[str, int], dict[str, Any]]]:
    """citylight's controller in a process of its own; its figures fill the dict on exit."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as workdir:
        port = free_udp_port()
        process = context.Process(target=_controller_main, args=(workdir, port, theirs))
        process.start()
        try:
            if not ours.poll(60):
                raise RuntimeError("the controller did not start within 60 s")
            yield ours.recv(), figures
            ours.send("stop")
            if ours.poll(60):
                figures.update(ours.recv())
        finally:
            process.join(30)
            if process.is_alive():
                process.terminate()
                process.join(10)


# -- the fleet ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Run:
    """One measurement: the fleet, where it listens, and how long to wait for it."""

    lamps: int
    mode: Mode = "shared"
    controller: ControllerKind = "stub"
    radio: bool = False
    """The profile's latency and loss (off: only start-up is timed)."""
    timeout_s: float = REGISTER_TIMEOUT_S
    freeze_gc: bool = True
    """Freeze the fleet's objects once it is up, as ``lighting sim`` does."""
    base: str = LAMP_BASE
    port: int = LAMP_PORT

    @property
    def aiocoap(self) -> bool:
        return self.mode in ("aiocoap", "aiocoap-udp")

    def city(self) -> City:
        profile = default_profile()
        city_table = profile.city.model_copy(
            update={"base_address": self.base, "port": self.port, "report_period_s": 86_400}
        )
        # No faults: a small city lacks the cabinets the default schedule names.
        update = {"city": city_table, "faults": FaultsTable()}
        city = build_city(profile.model_copy(update=update), lamps=self.lamps)
        if not self.radio:
            cells = tuple(dataclasses.replace(c, latency_s=0.0, loss=0.0) for c in city.cells)
            city = dataclasses.replace(city, cells=cells)
        return city


async def _aiocoap_contexts(city: City, mode: Mode) -> list[Any]:
    """One aiocoap server context per lamp, each bound to the lamp's address."""
    import aiocoap  # noqa: PLC0415 - only this mode uses aiocoap
    from aiocoap import resource as aioresource  # noqa: PLC0415

    site = aioresource.Site()
    site.add_resource(
        [".well-known", "core"], aioresource.WKCResource(site.get_resources_as_linkheader)
    )
    transports = ["udp6"] if mode == "aiocoap-udp" else None
    return [
        await aiocoap.Context.create_server_context(
            site, bind=(spec.address, spec.port), transports=transports
        )
        for spec in city.specs
    ]


async def _run(run: Run, stub: Stub, controller: tuple[str, int]) -> dict[str, Any]:
    row: dict[str, Any] = {"lamps": run.lamps, "mode": run.mode}
    row["gc"] = "n/a" if run.aiocoap else "freeze" if run.freeze_gc else "default"
    row["load1"] = round(os.getloadavg()[0], 2)
    if run.aiocoap:
        import aiocoap  # noqa: F401, PLC0415 - imported before the baseline is taken

    before = _rss_mib()
    started = time.monotonic()
    city = run.city()
    row["build_s"] = round(time.monotonic() - started, 2)
    cpu = time.process_time()
    started = time.monotonic()
    if run.aiocoap:
        os.environ["AIOCOAP_REUSE_PORT"] = "0"  # a second bind on an address fails loudly
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        ensure_fd_limit(min(3 * run.lamps + FD_MARGIN, hard))
        contexts = await _aiocoap_contexts(city, run.mode)
        row["ready_s"] = round(time.monotonic() - started, 2)
        row.update(registered_s=None, registered=0, uplinks_failed=0)
        row.update(_memory(before, run.lamps, cpu))
        row.update(await asyncio.to_thread(stub.probe, run, skip=[]), asleep=0)
        for context in contexts:
            await context.shutdown()
        return row
    endpoint: EndpointMode = "per-lamp" if run.mode == "per-lamp" else "shared"
    fleet = Simulator.for_city(
        city, controller, endpoint=endpoint, run_faults=False, freeze_gc=run.freeze_gc
    )
    async with fleet as sim:
        row["ready_s"] = round(time.monotonic() - started, 2)
        row["registered_s"] = None
        try:
            async with asyncio.timeout(run.timeout_s):
                await sim.wait_registered()
            row["registered_s"] = round(time.monotonic() - started, 2)
        except TimeoutError:
            pass
        row["registered"] = sim.registered_count
        row["uplinks_failed"] = sum(node.uplinks_failed for node in sim.nodes.values())
        row.update(_memory(before, run.lamps, cpu))
        # A sleepy (queue-mode) lamp hears nothing outside its wake window: not probed.
        asleep = [i for i, spec in enumerate(city.specs) if spec.sleepy]
        row.update(await asyncio.to_thread(stub.probe, run, skip=asleep), asleep=len(asleep))
    return row


def _memory(before: float, lamps: int, cpu: float) -> dict[str, Any]:
    after = _rss_mib()
    return {
        "cpu_s": round(time.process_time() - cpu, 1),
        "rss_mib": round(after, 1),
        "kib_per_lamp": round((after - before) * 1024 / lamps, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "open_fds": _open_fds(),
    }


def measure(lamps: int, mode: Mode = "shared", **options: Any) -> dict[str, Any]:
    """Start a city of ``lamps`` (``options``: the fields of ``Run``), wait until every lamp
    has registered, then probe every lamp; one row of figures.

    Measure one size per process: memory figures carry over otherwise (``main`` does)."""
    run = Run(lamps, mode, **options)
    with stub_controller() as stub:
        if run.controller == "stub":
            return {**asyncio.run(_run(run, stub, stub.address)), "controller": "stub"}
        with real_controller() as (address, figures):
            row = asyncio.run(_run(run, stub, address))
        return {**row, "controller": "real", **figures}


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_socket:
        try:
            probe_socket.bind(("0.0.0.0", port))  # noqa: S104 - a probe, closed at once
        except OSError:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fleet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("lamps", type=int, nargs="+", help="fleet sizes")
    parser.add_argument("--mode", choices=MODES, default="shared")
    parser.add_argument("--controller", choices=["stub", "real"], default="stub")
    parser.add_argument("--radio", action="store_true", help="the profile's latency and loss")
    parser.add_argument("--timeout", type=float, default=REGISTER_TIMEOUT_S, help="seconds")
    parser.add_argument(
        "--gc",
        choices=["freeze", "default"],
        default="freeze",
        help="freeze the fleet's objects once it is up, as `lighting sim` does (default)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    if not _free(LAMP_PORT):
        sys.exit(f"port {LAMP_PORT} is taken: the fleet needs it to itself")
    header: list[str] | None = None
    rows = []
    for lamps in args.lamps:
        # Each size in a process of its own, so that memory figures do not carry over.
        options = {
            "controller": args.controller,
            "radio": args.radio,
            "timeout_s": args.timeout,
            "freeze_gc": args.gc == "freeze",
        }
        call = (
            "import json; from bench.fleet import measure; "
            f"print(json.dumps(measure({lamps}, {args.mode!r}, **{options!r})))"
        )
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", call], check=True, capture_output=True, text=True
        )
        values = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(values)
        if header is None:
            header = list(values)
            print(" | ".join(header))
        print(" | ".join(str(values.get(key)) for key in header), flush=True)
    if args.json is not None:
        command = " ".join(["python -m bench.fleet", *sys.argv[1:]])
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": command, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
