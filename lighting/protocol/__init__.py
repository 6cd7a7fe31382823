"""Protocol v1 of citylight: CoAP resources and CBOR payloads, pure and shared with the simulator.

MQTT topics (``topics``) and the JSON the controller publishes (``events``) are here too.
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
from lighting.protocol.events import (
    Outgoing,
    clear_retained,
    fault_event,
    incident_event,
    lamp_status,
    outgoing,
    street_status,
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
from lighting.protocol.topics import DEFAULT_ROOT, Topics, Uplink, UplinkKind, check_root

__all__ = [
    "CONTENT_FORMAT_CBOR",
    "CONTROLLER_FAULT",
    "CONTROLLER_REGISTER",
    "CONTROLLER_REPORT",
    "DEFAULT_PORT",
    "DEFAULT_ROOT",
    "LAMP_COMMAND",
    "LAMP_STATE",
    "MAX_PAYLOAD",
    "PROTOCOL_VERSION",
    "Outgoing",
    "Topics",
    "Uplink",
    "UplinkKind",
    "check_root",
    "clear_retained",
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
    "fault_event",
    "incident_event",
    "lamp_status",
    "outgoing",
    "street_status",
    "uri",
]
