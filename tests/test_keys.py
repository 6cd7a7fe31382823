"""Key files: provisioning (modes, kept keys, no secret printed), the run-time store
(sequence numbers reserved before use, replay windows kept only by a clean close, one
process at a time), and the ``lighting keys`` commands."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lighting.cli import app
from lighting.config import load_settings
from lighting.errors import ConfigError
from lighting.keys import CHUNK, KeyStore, keys_file, provision, read_keys, state_file
from lighting.protocol import coapwire as coap
from lighting.protocol.oscore import EchoRequiredError, OscoreError

LAMPS = [f"L{i}" for i in range(1, 6)]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_provision_writes_private_files_and_keeps_existing_keys(tmp_path: Path) -> None:
    where = tmp_path / "keys"
    first = provision(where, LAMPS)
    assert (first.added, first.kept) == (tuple(LAMPS), 0)
    assert _mode(where) == 0o700
    for side in ("controller", "lamps"):
        assert _mode(keys_file(where, side)) == 0o600
        assert _mode(state_file(where, side)) == 0o600
    before = {key.lamp_id: key for key in read_keys(keys_file(where, "controller"))}
    assert [key.kid for key in before.values()] == [bytes([i]) for i in range(1, 6)]
    assert len({key.secret for key in before.values()}) == 5

    again = provision(where, [*LAMPS, "L6"])
    assert (again.added, again.kept) == (("L6",), 5)
    after = {key.lamp_id: key for key in read_keys(keys_file(where, "lamps"))}
    assert all(after[lamp_id] == key for lamp_id, key in before.items())
    assert after["L6"].kid == b"\x06"
    assert "secret" not in repr(after["L6"])
    assert after["L6"].secret.hex() not in repr(after)


def test_key_files_readable_by_others_are_refused(tmp_path: Path) -> None:
    where = tmp_path / "keys"
    provision(where, LAMPS)
    os.chmod(keys_file(where, "controller"), 0o640)
    with pytest.raises(ConfigError, match=r"controller.keys.json.*mode 0640.*chmod 600"):
        KeyStore(where, "controller").open()
    os.chmod(keys_file(where, "controller"), 0o600)
    os.chmod(where, 0o750)  # noqa: S103 - the mistake the test is about
    with pytest.raises(ConfigError, match="chmod 700"):
        KeyStore(where, "controller").open()


def test_a_missing_state_is_refused_rather_than_numbers_reused(tmp_path: Path) -> None:
    where = tmp_path / "keys"
    provision(where, LAMPS)
    state_file(where, "controller").unlink()
    with pytest.raises(ConfigError, match="sequence state is missing"):
        KeyStore(where, "controller").open()


def test_one_process_at_a_time(tmp_path: Path) -> None:
    where = tmp_path / "keys"
    provision(where, LAMPS)
    with KeyStore(where, "controller"), pytest.raises(ConfigError, match="another process"):
        KeyStore(where, "controller").open()
    with KeyStore(where, "controller") as store:  # released on close
        assert len(store) == 5


def _send(store: KeyStore, lamp_id: str, count: int) -> list[bytes]:
    context = store.by_lamp[lamp_id]
    return [
        context.protect_request(coap.PUT, ((11, b"cmd"),), b"x").options[-1][1]
        for _ in range(count)
    ]


def test_numbers_are_reserved_in_chunks_and_never_reused_after_a_crash(tmp_path: Path) -> None:
    where = tmp_path / "keys"
    provision(where, LAMPS)
    store = KeyStore(where, "controller", chunk=8)
    store.open()
    _send(store, "L1", 7)
    assert store.writes == 1, "within the first chunk: no write"
    _send(store, "L1", 3)  # the 9th number: one write, for every context past half its chunk
    assert store.writes == 2
    saved = json.loads(state_file(where, "controller").read_bytes())["contexts"]
    assert saved["01"]["next"] == 8 + 8
    crashed = state_file(where, "controller").read_bytes()  # what a crash leaves on disk
    used = store.by_lamp["L1"].sequence
    store.close()
    state_file(where, "controller").write_bytes(crashed)  # as if it had not closed

    with KeyStore(where, "controller", chunk=8) as again:
        context = again.by_lamp["L1"]
        assert context.sequence >= used, "a crash skips numbers, never reuses one"
        assert context.window is None, "the replay window is unknown after a crash"
        peer = KeyStore(where, "lamps")
        with peer:
            sealed = peer.by_lamp["L1"].protect_request(coap.POST, (), b"r")
            with pytest.raises(EchoRequiredError):
                context.unprotect_request(sealed.options, sealed.payload)


def test_a_clean_close_keeps_exact_numbers_and_windows(tmp_path: Path) -> None:
    where = tmp_path / "keys"
    provision(where, LAMPS)
    with KeyStore(where, "lamps") as lamps, KeyStore(where, "controller") as controller:
        for _ in range(3):
            sealed = lamps.by_lamp["L2"].protect_request(coap.POST, (), b"r")
            controller.by_lamp["L2"].unprotect_request(sealed.options, sealed.payload)
        _send(controller, "L2", 5)
    with KeyStore(where, "controller") as controller:
        context = controller.by_lamp["L2"]
        assert context.sequence == 5
        assert context.window is not None
        assert not context.window.is_fresh(2)
        assert context.window.is_fresh(3)
        assert context.limit == 5 + CHUNK


def test_the_keys_commands(tmp_path: Path) -> None:
    where = tmp_path / "keys"
    inventory = tmp_path / "city.csv"
    inventory.write_text(
        "lamp_id,zone,latitude,longitude,wattage\n"
        + "".join(f"{lamp},centre,36.7,119.1,90\n" for lamp in LAMPS),
        "utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(
        app, ["keys", "provision", "--dir", str(where), "--inventory", str(inventory)]
    )
    assert result.exit_code == 0, result.output
    assert "5 lamps, 5 added, 0 kept" in result.output
    secrets = [key.secret.hex() for key in read_keys(keys_file(where, "controller"))]
    listed = runner.invoke(app, ["keys", "list", "--dir", str(where), "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert [row["lamp_id"] for row in json.loads(listed.output)] == LAMPS
    for output in (result.output, listed.output):
        assert not any(secret in output for secret in secrets)
    again = runner.invoke(
        app, ["keys", "provision", "--dir", str(where), "--inventory", str(inventory)]
    )
    assert "5 lamps, 0 added, 5 kept" in again.output


def test_oscore_settings_that_cannot_work_are_refused(tmp_path: Path) -> None:
    settings = load_settings(None, coap={"port": 5683})
    assert settings.coap.security == "oscore", "secure unless told otherwise"
    with pytest.raises(ConfigError, match=r"\[coap\]: keys: .*lighting keys provision"):
        settings.coap.key_directory()
    aiocoap = load_settings(None, coap={"stack": "aiocoap", "keys": str(tmp_path)})
    with pytest.raises(ConfigError, match="lean stack"):
        aiocoap.coap.key_directory()
    lab = load_settings(None, coap={"security": "insecure"})
    assert lab.coap.key_directory() is None


def test_no_limit_moves_when_the_state_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = tmp_path / "keys"
    provision(where, LAMPS)
    with KeyStore(where, "controller", chunk=8) as store:
        _send(store, "L1", 8)
        _send(store, "L2", 6)  # past half of its chunk: it would be reserved along with L1

        def full_disk(path: Path, data: bytes) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("lighting.keys.write_private", full_disk)
        with pytest.raises(OscoreError) as refused:
            _send(store, "L1", 1)
        assert (refused.value.code, refused.value.why) == ("5.03", "exhausted")
        assert store.by_lamp["L2"].limit == 8, "nothing reserved that is not on disk"
        _send(store, "L2", 2)
        with pytest.raises(OscoreError):
            _send(store, "L2", 1)
        monkeypatch.undo()
        _send(store, "L1", 1)  # the disk is back: reserved, written, sent
        saved = json.loads(state_file(where, "controller").read_bytes())["contexts"]
        assert saved["01"]["next"] == 16
        assert saved["02"]["next"] == 16


def test_provisioning_again_after_a_lost_state_is_refused(tmp_path: Path) -> None:
    where = tmp_path / "keys"
    provision(where, LAMPS)
    state_file(where, "lamps").unlink()
    with pytest.raises(ConfigError, match="new, empty directory"):
        provision(where, [*LAMPS, "L9"])
    assert not state_file(where, "lamps").exists(), "no fresh state for old keys"


def test_key_files_with_a_lamp_twice_and_open_states_are_refused(tmp_path: Path) -> None:
    where = tmp_path / "keys"
    provision(where, LAMPS)
    path = keys_file(where, "controller")
    data = json.loads(path.read_bytes())
    data["lamps"].append(data["lamps"][0])
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="appears twice"):
        read_keys(path)
    os.chmod(state_file(where, "lamps"), 0o644)
    with pytest.raises(ConfigError, match=r"lamps.seq.json.*chmod 600"):
        KeyStore(where, "lamps").open()


def test_provision_from_the_record_and_a_simulator_without_keys_is_refused(
    tmp_path: Path, db_url: str
) -> None:
    runner = CliRunner()
    inventory = tmp_path / "city.csv"
    inventory.write_text(
        "lamp_id,zone,latitude,longitude,wattage\n"
        + "".join(f"{lamp},centre,36.7,119.1,90\n" for lamp in LAMPS[:3]),
        "utf-8",
    )
    imported = runner.invoke(app, ["import", str(inventory), "--db", db_url])
    assert imported.exit_code == 0, imported.output
    where = tmp_path / "keys"
    result = runner.invoke(app, ["keys", "provision", "--dir", str(where), "--db", db_url])
    assert result.exit_code == 0, result.output
    assert [key.lamp_id for key in read_keys(keys_file(where, "lamps"))] == LAMPS[:3]

    # The simulated city has other lamps than those keys: it says so and does not start.
    refused = runner.invoke(app, ["sim", "--lamps", "2", "--no-faults", "--keys", str(where)])
    assert refused.exit_code == 2
    assert "have no OSCORE key" in refused.output
    missing = runner.invoke(
        app, ["sim", "--lamps", "2", "--no-faults", "--keys", str(tmp_path / "none")]
    )
    assert missing.exit_code == 2
    assert "none" in missing.output
