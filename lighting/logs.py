"""Log output: lines for a person at a terminal, or JSON lines for a log collector.

``lighting run --log-format json`` writes one JSON object per line on stderr (journald,
Loki, Elasticsearch and friends take them as they are): the time in UTC (ISO 8601), the
level, the logger, the message with its arguments filled in, and, when there is one, the
exception with its traceback. Secrets never reach a log record in the first place (see
``lighting.config``); this module adds nothing of its own.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        task = getattr(record, "taskName", None)
        if task:
            entry["task"] = task
        return json.dumps(entry, ensure_ascii=False, default=str)


class _Ours(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler this module installed (replaced, not doubled, by a second call)."""


def setup_logging(level: str, log_format: LogFormat = "text") -> None:
    """Log at ``level`` (debug, info, warning, error) on stderr, as text or JSON lines."""
    handler = _Ours(sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):  # ours only: a test's capture stays in place
        if isinstance(old, _Ours):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
