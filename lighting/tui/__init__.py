"""The operator's dashboard: a textual view of the running daemon, over its control channel.

Nothing here reads the database or speaks to lamps: the dashboard asks the daemon through
``lighting.client.ControlClient`` (see docs/architecture.md, "How views connect", and
docs/dashboard.md). An import-linter contract keeps it so.
"""

from lighting.tui.app import Dashboard, run_dashboard

__all__ = ["Dashboard", "run_dashboard"]
