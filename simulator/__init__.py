"""The simulated city: lamp nodes that are real CoAP endpoints on loopback addresses."""

from simulator.city import City, PlannedFault, build_city
from simulator.errors import BindError, FleetError, ProfileError, SimulatorError
from simulator.fallback import Fallback
from simulator.faults import SimFault
from simulator.fleet import build_fleet, loopback_addresses
from simulator.lamp import Lamp, LampKind, LampSpec
from simulator.mqtt import MqttOptions, MqttUplink
from simulator.network import Cell
from simulator.node import LampNode
from simulator.profile import Profile, default_profile, dump_profile, load_profile
from simulator.runner import Simulator, ensure_fd_limit

__all__ = [
    "BindError",
    "Cell",
    "City",
    "Fallback",
    "FleetError",
    "Lamp",
    "LampKind",
    "LampNode",
    "LampSpec",
    "MqttOptions",
    "MqttUplink",
    "PlannedFault",
    "Profile",
    "ProfileError",
    "SimFault",
    "Simulator",
    "SimulatorError",
    "build_city",
    "build_fleet",
    "default_profile",
    "dump_profile",
    "ensure_fd_limit",
    "load_profile",
    "loopback_addresses",
]
