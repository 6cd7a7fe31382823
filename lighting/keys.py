"""OSCORE key files: provisioning them, and the security contexts that run on them.

``lighting keys provision`` gives every lamp of an inventory a master secret and salt of
its own and a short id (its kid), and writes them twice into a key directory (mode 0700):
``controller.keys.json`` for the controller and ``lamps.keys.json`` for whatever puts the
keys into the lamps (the simulator loads it). Both files are mode 0600; run again with a
larger inventory, it adds the new lamps and keeps every existing key.

A ``KeyStore`` is one side's contexts at run time. The side's sequence state lives next to
its keys (``controller.seq.json``, ``lamps.seq.json``), written atomically:

- sequence numbers are reserved in chunks (RFC 8613 Appendix B.1.1): a context never uses a
  number before a state naming a higher one is on disk, so a crash skips numbers but never
  reuses one (a reused number under the same key is a reused nonce: the end of AES-CCM);
- replay windows are written on a clean close only; after a crash a window is unknown, and
  the peer's next request is answered with an Echo challenge (Appendix B.1.2);
- one process at a time: the store holds a lock on ``<side>.lock`` while it is open.

Never restore a sequence state (or the whole directory) from a backup: an old state
means numbers used again under the same keys. Provision new keys instead
(docs/security.md). Nothing here logs a secret; errors name the file and what is wrong.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Self

from lighting.errors import ConfigError
from lighting.protocol.oscore import (
    ECHO_BYTES,
    MAX_ID_BYTES,
    OscoreError,
    ReplayWindow,
    SecurityContext,
    oscore_option,
    request_kid,
)

log = logging.getLogger(__name__)

Side = Literal["controller", "lamps"]
SIDES: Final[tuple[Side, ...]] = ("controller", "lamps")
VERSION: Final = 1
CONTROLLER_ID: Final = b""
"""The controller's Sender ID in every context (each lamp's context has its own secret)."""
SECRET_BYTES: Final = 16
SALT_BYTES: Final = 8
CHUNK: Final = 4096
"""Sequence numbers reserved at a time: at most this many are skipped after a crash."""


def keys_file(directory: Path, side: Side) -> Path:
    return directory / f"{side}.keys.json"


def state_file(directory: Path, side: Side) -> Path:
    return directory / f"{side}.seq.json"


@dataclass(frozen=True, slots=True)
class LampKey:
    """What a lamp and the controller share: never printed, never logged."""

    lamp_id: str
    kid: bytes
    secret: bytes = field(repr=False)
    salt: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Provisioned:
    directory: Path
    added: tuple[str, ...]
    kept: int


def kid_of(number: int) -> bytes:
    """The kid of the lamp numbered ``number`` (1, 2, ...): as few bytes as it needs."""
    size = max(1, (number.bit_length() + 7) // 8)
    if size > MAX_ID_BYTES:
        raise ValueError(f"lamp number {number} needs a kid over {MAX_ID_BYTES} bytes")
    return number.to_bytes(size, "big")


# -- files --------------------------------------------------------------------------------


def check_private(path: Path) -> None:
    """``ConfigError`` unless ``path`` is accessible by its owner only."""
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise ConfigError(err.strerror or str(err), source=str(path)) from err
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        fix = "chmod 700" if path.is_dir() else "chmod 600"
        raise ConfigError(
            f"readable or writable by others (mode {stat.S_IMODE(mode):04o}): {fix} it",
            source=str(path),
        )


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (mode 0600, synced to disk)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except OSError as err:
        raise ConfigError(err.strerror or str(err), source=str(path)) from err
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"not a key file: {err}", source=str(path)) from err
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ConfigError(f"not a version {VERSION} key file", source=str(path))
    return data


def read_keys(path: Path) -> list[LampKey]:
    """The lamps' keys in a key file (``ConfigError`` naming the file and the entry)."""
    check_private(path)
    data = _read_json(path)
    keys: list[LampKey] = []
    for index, entry in enumerate(data.get("lamps", [])):
        try:
            key = LampKey(
                str(entry["lamp_id"]),
                bytes.fromhex(entry["kid"]),
                bytes.fromhex(entry["secret"]),
                bytes.fromhex(entry["salt"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"entry {index} is not a lamp key: {err}", source=str(path)) from err
        if len(key.kid) > MAX_ID_BYTES or len(key.secret) < SECRET_BYTES:
            raise ConfigError(f"entry {index} ({key.lamp_id}): bad kid or secret", source=str(path))
        keys.append(key)
    for what, values in (("lamp id", [k.lamp_id for k in keys]), ("kid", [k.kid for k in keys])):
        if len(set(values)) != len(values):
            raise ConfigError(f"a {what} appears twice", source=str(path))
    return keys


def _keys_json(side: Side, keys: Iterable[LampKey]) -> bytes:
    lamps = [
        {"lamp_id": k.lamp_id, "kid": k.kid.hex(), "secret": k.secret.hex(), "salt": k.salt.hex()}
        for k in keys
    ]
    data = {"version": VERSION, "side": side, "algorithm": "AES-CCM-16-64-128", "lamps": lamps}
    return json.dumps(data, indent=0).encode()


def provision(directory: Path, lamp_ids: Iterable[str]) -> Provisioned:
    """Give each lamp of ``lamp_ids`` that has no key yet a new one; keep the others."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private(directory)
    path = keys_file(directory, "controller")
    keys = read_keys(path) if path.exists() else []
    known = {key.lamp_id for key in keys}
    number = max((int.from_bytes(key.kid, "big") for key in keys), default=0)
    added: list[str] = []
    for lamp_id in lamp_ids:
        if lamp_id in known:
            continue
        number += 1
        known.add(lamp_id)
        added.append(lamp_id)
        secret, salt = secrets.token_bytes(SECRET_BYTES), secrets.token_bytes(SALT_BYTES)
        keys.append(LampKey(lamp_id, kid_of(number), secret, salt))
    for side in SIDES:
        created = not keys_file(directory, side).exists()
        if not created and not state_file(directory, side).exists():
            # Keys whose numbers are lost must never be used again: a fresh state would
            # start them at 0, reusing every nonce they ever had.
            raise ConfigError(
                "the sequence state of these keys is missing: provision into a new, empty "
                "directory and give the lamps their new keys (docs/security.md)",
                source=str(state_file(directory, side)),
            )
        if added or created:
            write_private(keys_file(directory, side), _keys_json(side, keys))
        if created:
            # Numbers start at 0 for keys never used: the state says so from the start.
            write_private(state_file(directory, side), _state_json({}, clean=True))
    return Provisioned(directory, tuple(added), len(keys) - len(added))


def _state_json(contexts: dict[str, dict[str, Any]], *, clean: bool) -> bytes:
    return json.dumps({"version": VERSION, "clean": clean, "contexts": contexts}).encode()


# -- the store at run time --------------------------------------------------------------------


def keys_or_plain(directory: Path | None, side: Side) -> AbstractContextManager[KeyStore | None]:
    """The side's open ``KeyStore`` for the ``with`` block, or None (plain CoAP) when there
    is no key directory."""
    return KeyStore(directory, side) if directory is not None else nullcontext()


class KeyStore:
    """The security contexts of one side, by kid and by lamp, as an async-free context
    manager: ``open()`` loads and reserves, ``close()`` writes the exact state."""

    def __init__(self, directory: Path, side: Side, *, chunk: int = CHUNK) -> None:
        self.directory = directory
        self.side = side
        self.chunk = chunk
        self.by_kid: dict[bytes, SecurityContext] = {}
        self.by_lamp: dict[str, SecurityContext] = {}
        self.lamp_of: dict[bytes, str] = {}
        self.writes = 0
        """Sequence states written since the store opened."""
        self._lock: int | None = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.by_kid)

    def open(self) -> None:
        """Load the side's keys and state, reserve a chunk of numbers for every context and
        mark the replay windows unknown on disk (until ``close``); ``ConfigError`` if the
        files are missing, readable by others, or held by another process."""
        directory, side = self.directory, self.side
        check_private(directory)
        keys = read_keys(keys_file(directory, side))
        state_path = state_file(directory, side)
        if not state_path.exists():
            raise ConfigError(
                "the sequence state is missing: these keys cannot be used safely again; "
                "provision new keys (docs/security.md)",
                source=str(state_path),
            )
        check_private(state_path)
        self._take_lock()
        try:
            state = _read_json(state_path)
            saved = state.get("contexts", {})
            clean = state.get("clean") is True
            echo = secrets.token_bytes(ECHO_BYTES)
            for key in keys:
                self._add(key, saved.get(key.kid.hex()), clean=clean, echo=echo)
            self._write(clean=False)
        except BaseException:
            self._release_lock()
            raise
        log.info("OSCORE: %d security contexts (%s) from %s", len(keys), side, directory)

    def _add(self, key: LampKey, saved: Any, *, clean: bool, echo: bytes) -> None:
        # A kid the state does not name was never used: its numbers start at 0, and no
        # request under it was ever taken. Otherwise the window is known after a clean
        # close only.
        sequence = 0
        window: ReplayWindow | None = ReplayWindow()
        if saved is not None:
            try:
                sequence = int(saved["next"])
                stored = saved.get("window") if clean else None
                window = ReplayWindow(int(stored[0]), int(stored[1])) if stored else None
            except (KeyError, TypeError, ValueError, IndexError) as err:
                raise ConfigError(
                    f"the state of {key.lamp_id} cannot be read: {err}",
                    source=str(state_file(self.directory, self.side)),
                ) from err
        if self.side == "controller":
            sender, recipient = CONTROLLER_ID, key.kid
        else:
            sender, recipient = key.kid, CONTROLLER_ID
        context = SecurityContext(
            sender,
            recipient,
            key.secret,
            key.salt,
            sequence=sequence,
            limit=sequence + self.chunk,
            window=window,
            echo=echo,
            reserve=self._reserve,
        )
        self.by_kid[key.kid] = context
        self.by_lamp[key.lamp_id] = context
        self.lamp_of[key.kid] = key.lamp_id

    def context_for(self, options: Iterable[tuple[int, bytes]]) -> tuple[bytes, SecurityContext]:
        """The kid and context a request's OSCORE option names; ``OscoreError`` if it is not
        protected or names no lamp of ours."""
        value = oscore_option(options)
        if value is None:
            raise OscoreError("OSCORE is required", why="unprotected")
        kid = request_kid(value)
        context = self.by_kid.get(kid)
        if context is None:
            raise OscoreError("no security context for this kid", why="unknown-kid")
        return kid, context

    def close(self) -> None:
        """Write the exact sequence numbers and the replay windows, and let go of the lock."""
        if self._lock is None:
            return
        try:
            self._write(clean=True)
        finally:
            self._release_lock()

    def _reserve(self, context: SecurityContext) -> None:
        """A context reached its limit: reserve a new chunk for it and for every context
        past half of its own (they move together in a city-wide change), in one write. No
        limit moves unless the write succeeded: a context past its limit refuses to send."""
        half = self.chunk // 2
        raised = {
            kid: other.sequence + self.chunk
            for kid, other in self.by_kid.items()
            if other.limit - other.sequence < half or other is context
        }
        try:
            self._write(clean=False, limits=raised)
        except OSError:
            log.exception("OSCORE: the sequence state cannot be written")
            return
        for kid, limit in raised.items():
            self.by_kid[kid].limit = limit

    def _write(self, *, clean: bool, limits: dict[bytes, int] | None = None) -> None:
        """The state on disk: after a clean close the exact numbers and windows; while
        running, the reserved limits (``limits`` overriding the contexts' own)."""
        raised = limits or {}
        contexts: dict[str, dict[str, Any]] = {}
        for kid, context in self.by_kid.items():
            reserved = raised.get(kid, context.limit)
            entry: dict[str, Any] = {"next": context.sequence if clean else reserved}
            if clean and context.window is not None:
                entry["window"] = context.window.persist()
            contexts[kid.hex()] = entry
        write_private(state_file(self.directory, self.side), _state_json(contexts, clean=clean))
        self.writes += 1

    def _take_lock(self) -> None:
        path = self.directory / f"{self.side}.lock"
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(handle)
            raise ConfigError(
                "another process is using these keys (two users of one key would reuse "
                "its sequence numbers)",
                source=str(path),
            ) from err
        self._lock = handle

    def _release_lock(self) -> None:
        handle, self._lock = self._lock, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            os.close(handle)
