"""Adapters between the controller and the network, each behind the ports of ``base``."""

from lighting.transports.base import CommandTransport, Target, UplinkHandler
from lighting.transports.coap import CoapTransport
from lighting.transports.lean_transport import LeanCoapTransport
from lighting.transports.mqtt import MqttIngest, MqttLink, MqttPublisher, NoticeHub

__all__ = [
    "CoapTransport",
    "CommandTransport",
    "LeanCoapTransport",
    "MqttIngest",
    "MqttLink",
    "MqttPublisher",
    "NoticeHub",
    "Target",
    "UplinkHandler",
]
