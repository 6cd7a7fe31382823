"""Storage: SQLModel tables (SQLite by default, PostgreSQL for a city) behind a repository."""

from lighting.storage.inventory import ImportResult
from lighting.storage.records import (
    AuditRecord,
    ChangeRecord,
    ChangeSummary,
    CommandOutcome,
    CommandRecord,
    FaultRecord,
    HourlyRecord,
    IncidentRecord,
    LampRecord,
    NightEnergy,
    OverrideRecord,
    PruneResult,
    ReportRecord,
    RollupResult,
)
from lighting.storage.repository import Repository, make_engine
from lighting.storage.store import Store

__all__ = [
    "AuditRecord",
    "ChangeRecord",
    "ChangeSummary",
    "CommandOutcome",
    "CommandRecord",
    "FaultRecord",
    "HourlyRecord",
    "ImportResult",
    "IncidentRecord",
    "LampRecord",
    "NightEnergy",
    "OverrideRecord",
    "PruneResult",
    "ReportRecord",
    "Repository",
    "RollupResult",
    "Store",
    "make_engine",
]
