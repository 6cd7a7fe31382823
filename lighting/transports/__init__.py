"""Adapters between the controller and the network, each behind the ports of ``base``."""

from lighting.transports.base import CommandTransport, Target, UplinkHandler
from lighting.transports.coap import CoapTransport

__all__ = ["CoapTransport", "CommandTransport", "Target", "UplinkHandler"]
