"""The controller daemon: plans, fan-out, ingest, faults and contact, on one event loop."""

from lighting.controller.daemon import Controller, night_of, utc_now
from lighting.controller.delivery import DeliveryEngine
from lighting.controller.faults import FaultBook
from lighting.controller.housekeeping import Housekeeping
from lighting.controller.ingest import Ingest, ReportWriter
from lighting.controller.registry import LampEntry, Registry

__all__ = [
    "Controller",
    "DeliveryEngine",
    "FaultBook",
    "Housekeeping",
    "Ingest",
    "LampEntry",
    "Registry",
    "ReportWriter",
    "night_of",
    "utc_now",
]
