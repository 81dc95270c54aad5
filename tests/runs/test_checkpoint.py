"""The checkpoint write protocol, the verifier and the weights-only reader (A1, A6)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

import unitrain.runs.checkpoint as ckpt
from unitrain.errors import CheckpointError, UnitrainWarning
from unitrain.runs.checkpoint import (
    LATEST,
    MANIFEST,
    list_checkpoints,
    load_checkpoint,
    newest_valid,
    read_latest,
    remove_stale,
    verify_checkpoint,
    write_checkpoint,
)


def _save(directory: Path, step: int, **extra: Any) -> Path:
    payload = {"w": torch.full((3,), float(step)), "step": step, **extra}
    meta = {"position": {"global_step": step, "micro_step": step}}
    return write_checkpoint(directory, f"step-{step:09d}", {"state.pt": payload}, meta=meta)


def test_protocol_order_temp_beside_target_fsync_rename_then_latest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_rename, real_replace = os.fsync, os.rename, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src: Any, dst: Any) -> None:
        events.append(("rename", f"{src} -> {dst}"))
        real_rename(src, dst)

    def replace(src: Any, dst: Any) -> None:
        events.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "replace", replace)
    path = _save(tmp_path, 1)
    kinds = [kind for kind, _ in events]
    commit = kinds.index("rename")
    src, dst = events[commit][1].split(" -> ")
    assert Path(src).parent == tmp_path and Path(src).name.startswith(".step-000000001.tmp-")
    assert Path(dst) == path
    synced_before = [target for kind, target in events[:commit] if kind == "fsync"]
    assert any(t.endswith("state.pt") for t in synced_before)
    assert any(t.endswith(MANIFEST) for t in synced_before)
    assert Path(synced_before[-1]).name == Path(src).name  # the temp dir itself
    assert events[commit + 1] == ("fsync", str(tmp_path))  # the parent, after the rename
    assert kinds.index("replace") > commit and events[kinds.index("replace")][1].endswith(LATEST)
    assert events[-1] == ("fsync", str(tmp_path))
    assert read_latest(tmp_path) == "step-000000001"


def test_manifest_has_sha256_and_size_per_file(tmp_path: Path) -> None:
    path = _save(tmp_path, 2)
    manifest = json.loads((path / MANIFEST).read_text())
    data = (path / "state.pt").read_bytes()
    assert manifest["files"]["state.pt"] == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    assert manifest["position"] == {"global_step": 2, "micro_step": 2}
    assert verify_checkpoint(path)["name"] == "step-000000002"


def test_crash_during_write_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # scenario 3: torch.save raises halfway through the second checkpoint
    first = _save(tmp_path, 1)
    real_save = torch.save

    def half_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"PK\x03\x04 half a zip")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises(RuntimeError, match="killed mid-write"):
        _save(tmp_path, 2)
    monkeypatch.setattr(torch, "save", real_save)
    assert [p.name for p in tmp_path.iterdir() if p.name != LATEST] == [first.name]
    assert read_latest(tmp_path) == first.name
    assert load_checkpoint(first)["state"]["step"] == 1


@pytest.mark.parametrize(
    "error", [OSError(errno.ENOSPC, "No space left on device"), PermissionError(13, "denied")]
)
def test_disk_full_or_permission_error_is_raised_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError
) -> None:
    # scenario 6: reported, never swallowed; the previous checkpoint and `latest` untouched
    first = _save(tmp_path, 1)
    before = (first / "state.pt").read_bytes()

    def failing_write(self: Any, data: bytes) -> int:
        raise error

    monkeypatch.setattr(ckpt._HashingWriter, "write", failing_write)
    with pytest.raises(CheckpointError, match="step-000000002") as info:
        _save(tmp_path, 2)
    assert info.value.__cause__ is error
    assert read_latest(tmp_path) == first.name
    assert (first / "state.pt").read_bytes() == before
    assert not (tmp_path / "step-000000002").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unwritable_directory_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CheckpointError, match="could not write checkpoint"):
        _save(blocker, 1)


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "missing file"])
def test_corrupt_checkpoints_are_named_and_skipped(tmp_path: Path, damage: str) -> None:
    # scenario 7: the newest is damaged; resume falls back to the previous one, saying so
    good = _save(tmp_path, 1)
    bad = _save(tmp_path, 2)
    data = bad / "state.pt"
    if damage == "truncate":
        data.write_bytes(data.read_bytes()[:-7])
    elif damage == "flip":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        data.write_bytes(bytes(raw))
    elif damage == "manifest":
        (bad / MANIFEST).unlink()
    else:
        data.unlink()
    with pytest.raises(CheckpointError, match=str(bad)):
        verify_checkpoint(bad)
    with pytest.warns(UnitrainWarning, match=f"skipping checkpoint {bad}"):
        found, skipped = newest_valid(tmp_path)
    assert found == good and len(skipped) == 1


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    # scenario 8: a payload whose __reduce__ would create a file
    marker = tmp_path / "pwned"
    path = _save(tmp_path / "ckpts", 1)

    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    evil = path / "state.pt"
    with evil.open("wb") as stream:
        torch.save({"w": torch.ones(1), "x": Payload()}, stream, pickle_module=pickle)
    # make the manifest match, as an attacker who controls the directory would
    manifest = json.loads((path / MANIFEST).read_text())
    data = evil.read_bytes()
    manifest["files"]["state.pt"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="weights_only=True") as info:
        load_checkpoint(path)
    assert "arbitrary code" in str(info.value) and str(evil) in str(info.value)
    assert not marker.exists()


def test_everything_loads_weights_only_with_no_unsafe_globals(tmp_path: Path) -> None:
    # scenario 25 at the file level (the full trainer checkpoint is in test_resume.py)
    path = _save(tmp_path, 3, nested={"a": [1, 2.5, "x", None, (1, 2)]})
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path / "state.pt"))
    assert unsafe == []
    loaded = torch.load(path / "state.pt", weights_only=True)
    assert loaded["nested"] == {"a": [1, 2.5, "x", None, (1, 2)]}


def test_resaving_a_name_replaces_it_only_when_complete(tmp_path: Path) -> None:
    _save(tmp_path, 1)
    write_checkpoint(tmp_path, "step-000000001", {"state.pt": {"v": 2}}, meta={})
    assert load_checkpoint(tmp_path / "step-000000001")["state"] == {"v": 2}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_listing_orders_by_training_position_and_ignores_temporaries(tmp_path: Path) -> None:
    for step in (10, 2, 7):
        _save(tmp_path, step)
    (tmp_path / ".step-000000011.tmp-deadbeef").mkdir()
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "step-000000002",
        "step-000000007",
        "step-000000010",
    ]
    assert [p.name for p in remove_stale(tmp_path)] == [".step-000000011.tmp-deadbeef"]
    assert not (tmp_path / ".step-000000011.tmp-deadbeef").exists()
    assert newest_valid(tmp_path / "nothing") == (None, [])


def test_a_resave_that_died_between_its_renames_keeps_the_old_one(tmp_path: Path) -> None:
    path = _save(tmp_path, 4)
    os.rename(path, tmp_path / ".step-000000004.old-12345678")  # the state such a crash leaves
    remove_stale(tmp_path)
    assert verify_checkpoint(path)["name"] == "step-000000004"
