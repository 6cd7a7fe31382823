"""Protocol v1 of citylight: CoAP resources and CBOR payloads, pure and shared with the simulator.

Nothing here does I/O; see ``docs/protocol.md`` for the wire description.
"""

from lighting.protocol.codec import (
    decode_ack,
    decode_command,
    decode_fault,
    decode_registration,
    decode_report,
    encode_ack,
    encode_command,
    encode_fault,
    encode_registration,
    encode_report,
)
from lighting.protocol.paths import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_FAULT,
    CONTROLLER_REGISTER,
    CONTROLLER_REPORT,
    DEFAULT_PORT,
    LAMP_COMMAND,
    LAMP_STATE,
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    uri,
)

__all__ = [
    "CONTENT_FORMAT_CBOR",
    "CONTROLLER_FAULT",
    "CONTROLLER_REGISTER",
    "CONTROLLER_REPORT",
    "DEFAULT_PORT",
    "LAMP_COMMAND",
    "LAMP_STATE",
    "MAX_PAYLOAD",
    "PROTOCOL_VERSION",
    "decode_ack",
    "decode_command",
    "decode_fault",
    "decode_registration",
    "decode_report",
    "encode_ack",
    "encode_command",
    "encode_fault",
    "encode_registration",
    "encode_report",
    "uri",
]
