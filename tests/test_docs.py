"""The reference docs say what the code does: the fault catalogue table is the enum's."""

from __future__ import annotations

from pathlib import Path

from lighting.controller.rules import JUDGED
from lighting.model import FaultKind

DOCS = Path(__file__).parent.parent / "docs"


def _found_by(kind: FaultKind) -> str:
    if kind.inferred:
        return "controller"
    return "lamp or controller" if kind in JUDGED else "lamp"


def test_the_fault_catalogue_in_the_docs_is_the_one_in_the_code() -> None:
    text = (DOCS / "faults.md").read_text("utf-8")
    table = text.split("<!-- catalogue:start -->")[1].split("<!-- catalogue:end -->")[0]
    rows = table.strip().splitlines()[2:]
    expected = [
        f"| {int(k)} | `{k.slug}` | {k.severity} | {_found_by(k)} | {k.description} |"
        for k in FaultKind
    ]
    assert rows == expected
