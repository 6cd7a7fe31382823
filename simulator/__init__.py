"""The simulated city: lamp nodes that are real CoAP endpoints on loopback addresses."""

from simulator.errors import BindError, FleetError, SimulatorError
from simulator.fleet import build_fleet, loopback_addresses
from simulator.lamp import Lamp, LampSpec
from simulator.mqtt import MqttOptions, MqttUplink
from simulator.network import Cell
from simulator.node import LampNode
from simulator.runner import Simulator, ensure_fd_limit

__all__ = [
    "BindError",
    "Cell",
    "FleetError",
    "Lamp",
    "LampNode",
    "LampSpec",
    "MqttOptions",
    "MqttUplink",
    "Simulator",
    "SimulatorError",
    "build_fleet",
    "ensure_fd_limit",
    "loopback_addresses",
]
