"""OSCORE (RFC 8613): CoAP requests and responses protected end to end. Pure.

Every command of the controller and every uplink of a lamp travels as an OSCORE message
when ``[coap] security = "oscore"`` (the default): the CoAP code, the options that matter
(Uri-Path, Content-Format, Echo ...) and the payload are encrypted and authenticated with
AES-CCM under keys that only the controller and that one lamp hold. This module turns
plain messages into protected ones and back; it does no I/O and reads no clock. The key
files and the persistence of sequence numbers are an adapter (``lighting.keys``); the
CoAP endpoints call it (``lighting.transports.lean_transport``, ``simulator.node``).

What citylight uses of RFC 8613 (docs/security.md has the why):

- AES-CCM-16-64-128 (COSE algorithm 10) and HKDF SHA-256, the algorithms every OSCORE
  implementation has (section 3.2); no ID Context, since each lamp has its own master
  secret; the controller's Sender ID is empty and each lamp's is a short number (its
  "kid", at most 7 bytes), by which the controller finds the lamp's context;
- a replay window of 32 sequence numbers per sender (section 7.4);
- responses reuse the request's nonce (section 8.3), except the 4.01 that asks a sender
  to prove freshness with an Echo option (RFC 9175) after the receiver lost its replay
  window (Appendix B.1.2): that one carries a Partial IV of its own;
- sequence numbers are reserved in chunks by whoever owns the context (Appendix B.1.1):
  a context asks its ``reserve`` callback before it uses a number past ``limit``.

Errors (``OscoreError`` is a ``ProtocolError``, so the endpoints answer with its code)::

    OscoreError            a message that cannot be accepted (code, why)
    └── EchoRequiredError       authentic, but its freshness is unknown: answer 4.01 with Echo

The ``why`` of each error is the name it is counted under (``coap.refused.oscore.<why>``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lighting.errors import ProtocolError
from lighting.protocol.coapwire import (
    CHANGED,
    POST,
    UNAUTHORIZED,
    Message,
    Option,
    decode_options,
    encode_options,
)

ALG_AES_CCM_16_64_128: Final = 10
KEY_BYTES: Final = 16
NONCE_BYTES: Final = 13
TAG_BYTES: Final = 8
MAX_ID_BYTES: Final = NONCE_BYTES - 6
"""Sender and Recipient IDs are at most 7 bytes with this algorithm (section 3.3)."""
MAX_SEQUENCE: Final = (1 << 40) - 1
"""Partial IVs are at most 5 bytes (section 7.2.1)."""
REPLAY_WINDOW: Final = 32
ECHO_BYTES: Final = 8

OUTER: Final = frozenset({Option.URI_HOST, Option.URI_PORT, Option.PROXY_URI, Option.PROXY_SCHEME})
"""Class U options (section 4.1): they stay on the outer message. Every other option of a
plain message is encrypted (class E); protocol v1 uses no Observe."""

_FLAG_KID: Final = 0x08
_FLAG_KID_CONTEXT: Final = 0x10
_RESERVED: Final = 0xE0
_PIV_LENGTH: Final = 0x07


class OscoreError(ProtocolError):
    """A protected message that cannot be accepted: ``code`` is the CoAP response it
    deserves (4.01 in general, 4.02 for an OSCORE option that cannot be read) and ``why``
    names the refusal for the counters: ``unprotected``, ``malformed``, ``unknown-kid``,
    ``replay``, ``bad-tag``, ``exhausted``."""

    def __init__(self, reason: str, *, why: str, code: str = "4.01") -> None:
        super().__init__(reason, code=code)
        self.why = why


class EchoRequiredError(OscoreError):
    """An authentic request whose freshness cannot be checked (the receiver lost its replay
    window): it must be answered 4.01 with ``echo`` in an Echo option, protected under
    ``request_id``, and the sender repeats it with that Echo (RFC 8613 Appendix B.1.2)."""

    def __init__(self, request_id: RequestId, echo: bytes) -> None:
        super().__init__("the replay window is being rebuilt: repeat with Echo", why="echo")
        self.request_id = request_id
        self.echo = echo


@dataclass(frozen=True, slots=True)
class RequestId:
    """What binds a response to its request: the request's kid and Partial IV. ``fresh``
    says the request passed the replay check, so its response may reuse its nonce."""

    kid: bytes
    piv: bytes
    fresh: bool = True


@dataclass(frozen=True, slots=True)
class Sealed:
    """A protected message: the outer code, options (OSCORE and class U) and payload."""

    code: int
    options: tuple[tuple[int, bytes], ...]
    payload: bytes
    request_id: RequestId


@dataclass(frozen=True, slots=True)
class Opened:
    """A message as its sender wrote it, taken out of its protection."""

    code: int
    options: tuple[tuple[int, bytes], ...]
    payload: bytes
    request_id: RequestId

    def option_values(self, number: int) -> list[bytes]:
        return [value for n, value in self.options if n == number]

    def within(self, outer: Message) -> Message:
        """The message as its sender wrote it, with the type, id and token of ``outer``."""
        return Message(outer.mtype, self.code, outer.mid, outer.token, self.options, self.payload)


class ReplayWindow:
    """The sequence numbers already taken from one sender (section 7.4): ``base`` is the
    lowest number still in the window, bit ``i`` of ``seen`` marks ``base + i`` as taken."""

    __slots__ = ("base", "seen")

    def __init__(self, base: int = 0, seen: int = 0) -> None:
        self.base = base
        self.seen = seen

    @classmethod
    def from_fresh(cls, number: int) -> ReplayWindow:
        """A window rebuilt from a number known to be fresh (an Echo came back with it):
        that number and everything below it are taken."""
        return cls(number, 1)

    def is_fresh(self, number: int) -> bool:
        offset = number - self.base
        if offset < 0:
            return False
        return offset >= REPLAY_WINDOW or not (self.seen >> offset) & 1

    def take(self, number: int) -> None:
        offset = number - self.base
        if offset >= REPLAY_WINDOW:
            shift = offset - REPLAY_WINDOW + 1
            self.base += shift
            self.seen >>= shift
            offset -= shift
        self.seen |= 1 << offset

    def persist(self) -> list[int]:
        return [self.base, self.seen]


Reserve = Callable[["SecurityContext"], None]
"""Raises ``context.limit`` past ``context.sequence`` (and makes it durable first)."""


def _unreserved(context: SecurityContext) -> None:
    context.limit = MAX_SEQUENCE + 1


def _bstr(value: bytes) -> bytes:
    """A CBOR byte string shorter than 24 bytes (ids and Partial IVs always are)."""
    return bytes((0x40 | len(value),)) + value


def _piv(sequence: int) -> bytes:
    return sequence.to_bytes((sequence.bit_length() + 7) // 8 or 1, "big")


def _aad(kid: bytes, piv: bytes) -> bytes:
    """The Enc_structure (section 5.4): external_aad = [1, [alg], request_kid, request_piv,
    h''] wrapped in ["Encrypt0", h'', external_aad]."""
    external = b"\x85\x01\x81\x0a" + _bstr(kid) + _bstr(piv) + b"\x40"
    return b"\x83\x68Encrypt0\x40" + _bstr(external)


def derive(secret: bytes, salt: bytes, role_id: bytes, kind: str, length: int) -> bytes:
    """HKDF SHA-256 of section 3.2.1: info = [id, id_context (none), alg, type, L]."""
    info = cbor2.dumps([role_id, None, ALG_AES_CCM_16_64_128, kind, length])
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def parse_option(value: bytes) -> tuple[bytes | None, bytes | None, bytes | None]:
    """Partial IV, kid context and kid of an OSCORE option value (section 6.1), each None
    when absent; ``OscoreError`` (4.02) when the value breaks the format."""
    if not value:
        return None, None, None
    flags = value[0]
    if flags & _RESERVED:
        raise OscoreError("the OSCORE option uses reserved flags", why="malformed", code="4.02")
    size = flags & _PIV_LENGTH
    if size > 5:
        raise OscoreError(f"a Partial IV of {size} bytes is reserved", why="malformed", code="4.02")
    at = 1 + size
    if at > len(value):
        raise OscoreError("the Partial IV is cut short", why="malformed", code="4.02")
    piv = value[1:at] if size else None
    kid_context = None
    if flags & _FLAG_KID_CONTEXT:
        if at >= len(value) or at + 1 + value[at] > len(value):
            raise OscoreError("the kid context is cut short", why="malformed", code="4.02")
        kid_context = value[at + 1 : at + 1 + value[at]]
        at += 1 + value[at]
    kid = value[at:] if flags & _FLAG_KID else None
    if kid is None and at != len(value):
        raise OscoreError("the OSCORE option is too long", why="malformed", code="4.02")
    return piv, kid_context, kid


def request_kid(value: bytes) -> bytes:
    """The kid of a protected request (which context opens it); ``OscoreError`` if none."""
    _, kid_context, kid = parse_option(value)
    if kid is None:
        raise OscoreError("a protected request without a kid", why="malformed", code="4.02")
    if kid_context is not None:
        raise OscoreError("no security context has an ID context", why="unknown-kid")
    return kid


def oscore_option(options: Iterable[tuple[int, bytes]]) -> bytes | None:
    """The OSCORE option's value in ``options`` (None: the message is not protected)."""
    for number, value in options:
        if number == Option.OSCORE:
            return value
    return None


def echo_challenge(opened: Opened) -> bytes | None:
    """The Echo value of a 4.01 that asks for proof of freshness, or None."""
    if opened.code != UNAUTHORIZED:
        return None
    values = opened.option_values(Option.ECHO)
    return values[0] if values else None


class SecurityContext:
    """One end of the security context between the controller and one lamp (section 3).

    Keys are derived on first use, so loading 100,000 contexts costs no HKDF. ``sequence``
    is the next Sender Sequence Number; numbers from ``limit`` on must be reserved through
    ``reserve`` first. ``window`` is None while the replay window is unknown (after a
    crash): the next request is then answered with an Echo challenge (``echo``).
    """

    __slots__ = (
        "_common_iv",
        "_recipient",
        "_salt",
        "_secret",
        "_sender",
        "echo",
        "limit",
        "recipient_id",
        "reserve",
        "sender_id",
        "sequence",
        "window",
    )

    def __init__(
        self,
        sender_id: bytes,
        recipient_id: bytes,
        secret: bytes,
        salt: bytes = b"",
        *,
        sequence: int = 0,
        limit: int | None = None,
        window: ReplayWindow | None = None,
        echo: bytes | None = None,
        reserve: Reserve | None = None,
    ) -> None:
        if max(len(sender_id), len(recipient_id)) > MAX_ID_BYTES:
            raise ValueError(f"sender and recipient ids are at most {MAX_ID_BYTES} bytes")
        if sender_id == recipient_id:
            raise ValueError("the sender and recipient ids of a context must differ")
        self.sender_id = sender_id
        self.recipient_id = recipient_id
        self._secret = secret
        self._salt = salt
        self._sender: AESCCM | None = None
        self._recipient: AESCCM | None = None
        self._common_iv = b""
        self.sequence = sequence
        self.limit = MAX_SEQUENCE + 1 if limit is None else limit
        self.window = window
        self.echo = echo
        self.reserve: Reserve = reserve if reserve is not None else _unreserved

    def __repr__(self) -> str:  # never the secret, never a key
        return (
            f"SecurityContext(sender_id={self.sender_id.hex()!r}, "
            f"recipient_id={self.recipient_id.hex()!r}, sequence={self.sequence})"
        )

    def _derive(self) -> tuple[AESCCM, AESCCM]:
        secret, salt = self._secret, self._salt
        sender = AESCCM(derive(secret, salt, self.sender_id, "Key", KEY_BYTES), TAG_BYTES)
        recipient = AESCCM(derive(secret, salt, self.recipient_id, "Key", KEY_BYTES), TAG_BYTES)
        self._common_iv = derive(secret, salt, b"", "IV", NONCE_BYTES)
        self._sender, self._recipient = sender, recipient
        return sender, recipient

    def _nonce(self, piv: bytes, id_piv: bytes) -> bytes:
        """Section 5.2: the id of whoever chose the Partial IV and the Partial IV, padded,
        XOR the Common IV."""
        parts = (
            bytes((len(id_piv),))
            + bytes(NONCE_BYTES - 6 - len(id_piv))
            + id_piv
            + bytes(5 - len(piv))
            + piv
        )
        return (int.from_bytes(parts, "big") ^ int.from_bytes(self._common_iv, "big")).to_bytes(
            NONCE_BYTES, "big"
        )

    def _next_piv(self) -> bytes:
        if self.sequence >= self.limit:
            self.reserve(self)
        if self.sequence > MAX_SEQUENCE:
            raise OscoreError("the context has used every sequence number", why="exhausted")
        if self.sequence >= self.limit:
            raise OscoreError(
                "no sequence numbers reserved: the key store could not be written",
                why="exhausted",
                code="5.03",
            )
        piv = _piv(self.sequence)
        self.sequence += 1
        return piv

    def _seal(
        self,
        piv: bytes,
        id_piv: bytes,
        aad: bytes,
        *,
        code: int,
        options: Iterable[tuple[int, bytes]],
        payload: bytes,
    ) -> bytes:
        sender = self._sender if self._sender is not None else self._derive()[0]
        plaintext = bytes((code,)) + encode_options(options, payload)
        return sender.encrypt(self._nonce(piv, id_piv), plaintext, aad)

    def _open(
        self, ciphertext: bytes, piv: bytes, id_piv: bytes, aad: bytes
    ) -> tuple[int, tuple[tuple[int, bytes], ...], bytes]:
        recipient = self._recipient if self._recipient is not None else self._derive()[1]
        if len(ciphertext) < TAG_BYTES + 1:
            raise OscoreError("the ciphertext is too short", why="malformed", code="4.00")
        try:
            plaintext = recipient.decrypt(self._nonce(piv, id_piv), ciphertext, aad)
        except InvalidTag as err:
            raise OscoreError("the message does not authenticate", why="bad-tag") from err
        try:
            options, payload = decode_options(plaintext[1:])
        except ProtocolError as err:
            raise OscoreError(f"inner message: {err.reason}", why="malformed", code="4.00") from err
        return plaintext[0], options, payload

    # -- requests -------------------------------------------------------------------------

    def protect_request(
        self, code: int, options: Iterable[tuple[int, bytes]], payload: bytes = b""
    ) -> Sealed:
        """Protect a request (section 8.1): the outer message is a POST carrying the OSCORE
        option with a new Partial IV and our kid, and the class U options."""
        inner, outer = _split(options)
        piv = self._next_piv()
        kid = self.sender_id
        ciphertext = self._seal(piv, kid, _aad(kid, piv), code=code, options=inner, payload=payload)
        option = bytes((len(piv) | _FLAG_KID,)) + piv + kid
        return Sealed(POST, (*outer, (Option.OSCORE, option)), ciphertext, RequestId(kid, piv))

    def unprotect_request(self, options: Iterable[tuple[int, bytes]], ciphertext: bytes) -> Opened:
        """Verify and decrypt a request to us (section 8.2); ``OscoreError`` if it is not
        protected for this context, does not authenticate or is a replay, ``EchoRequiredError``
        if it is authentic but the replay window is unknown and it carries no valid Echo."""
        value = oscore_option(options)
        if value is None:
            raise OscoreError("the request is not protected with OSCORE", why="unprotected")
        piv, kid_context, kid = parse_option(value)
        if piv is None:
            raise OscoreError("a request without a Partial IV", why="malformed", code="4.02")
        if kid != self.recipient_id or kid_context is not None:
            raise OscoreError("no security context for this kid", why="unknown-kid")
        number = int.from_bytes(piv, "big")
        window = self.window
        if window is not None and not window.is_fresh(number):
            raise OscoreError("a replayed request (its sequence number was used)", why="replay")
        code, inner, payload = self._open(ciphertext, piv, kid, _aad(kid, piv))
        if window is None:
            if self.echo is None:
                raise OscoreError("the replay window is unknown", why="replay")
            echo = next((v for n, v in inner if n == Option.ECHO), None)
            if echo != self.echo:
                raise EchoRequiredError(RequestId(kid, piv, fresh=False), self.echo)
            self.window = ReplayWindow.from_fresh(number)
        else:
            window.take(number)
        request_id = RequestId(kid, piv)
        return Opened(code, inner, payload, request_id)

    # -- responses ------------------------------------------------------------------------

    def protect_response(
        self,
        request_id: RequestId,
        code: int,
        options: Iterable[tuple[int, bytes]] = (),
        payload: bytes = b"",
    ) -> Sealed:
        """Protect our response to a request this context opened (section 8.3): the outer
        code is 2.04; the request's nonce is reused when it was fresh, else a Partial IV of
        our own goes in the OSCORE option."""
        inner, outer = _split(options)
        aad = _aad(request_id.kid, request_id.piv)
        if request_id.fresh:
            ciphertext = self._seal(
                request_id.piv, request_id.kid, aad, code=code, options=inner, payload=payload
            )
            option = b""
        else:
            piv = self._next_piv()
            ciphertext = self._seal(
                piv, self.sender_id, aad, code=code, options=inner, payload=payload
            )
            option = bytes((len(piv),)) + piv
        return Sealed(CHANGED, (*outer, (Option.OSCORE, option)), ciphertext, request_id)

    def unprotect_response(
        self, request_id: RequestId, options: Iterable[tuple[int, bytes]], ciphertext: bytes
    ) -> Opened:
        """Verify and decrypt the response to our request ``request_id`` (section 8.4)."""
        value = oscore_option(options)
        if value is None:
            raise OscoreError("the response is not protected with OSCORE", why="unprotected")
        piv, kid_context, kid = parse_option(value)
        if kid_context is not None or (kid is not None and kid != self.recipient_id):
            raise OscoreError("a response from another context", why="unknown-kid")
        aad = _aad(request_id.kid, request_id.piv)
        if piv is None:
            code, inner, payload = self._open(ciphertext, request_id.piv, request_id.kid, aad)
        else:
            code, inner, payload = self._open(ciphertext, piv, self.recipient_id, aad)
        return Opened(code, inner, payload, request_id)


def _split(
    options: Iterable[tuple[int, bytes]],
) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """Class E options (encrypted) and class U options (outer) of a plain message."""
    inner: list[tuple[int, bytes]] = []
    outer: list[tuple[int, bytes]] = []
    for number, value in options:
        if number == Option.OSCORE:
            raise ValueError("the message is protected already")
        (outer if number in OUTER else inner).append((number, value))
    return inner, outer
