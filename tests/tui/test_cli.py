"""``lighting dashboard`` refuses, with its reason and exit code 2, what cannot work: a
configuration whose control channel is off, or orders given by nobody."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lighting.cli import app
from lighting.const import EXIT_USAGE

EXAMPLE = Path(__file__).parents[2] / "lighting" / "example.toml"
runner = CliRunner()


def test_without_a_control_channel_there_is_no_daemon_to_talk_to(tmp_path: Path) -> None:
    text = EXAMPLE.read_text("utf-8")
    assert "[control]\nenabled = true\n" in text
    config = tmp_path / "off.toml"
    config.write_text(text.replace("[control]\nenabled = true\n", "[control]\nenabled = false\n"))
    result = runner.invoke(app, ["dashboard", "-c", str(config)])
    assert result.exit_code == EXIT_USAGE
    said = " ".join(result.output.split())
    assert "the control channel is disabled in this configuration ([control] enabled" in said


def test_orders_need_a_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dashboard", "--socket", str(tmp_path / "c.sock"), "--by", " "])
    assert result.exit_code == EXIT_USAGE
    assert "--by: say who gives the orders" in result.output
