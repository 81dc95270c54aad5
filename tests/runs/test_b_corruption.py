"""Battery: the corruption matrix. Every damaged file is named, never loaded, and the resume
falls back to the previous good checkpoint (or stops with a clear error) and stays exact.

Each case damages the newest checkpoint (step 7, which ``latest`` names) of a copy of one
crashed run (see :mod:`tests.runs.battery`), resumes with ``resume="latest"`` and checks:
a warning names the checkpoint and the file; the resumed run equals the uninterrupted one bit
for bit; metrics.jsonl holds every step exactly once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runs.battery import caught, crashed_run, metrics_of, rehash, resume, straight
from tests.runs.trainkit import assert_same, snapshot
from unitrain.errors import RunError
from unitrain.runs.checkpoint import MANIFEST, newest_valid
from unitrain.runs.store import iter_metrics

Damage = Callable[[Path, Path], None]  # (the checkpoint, a spare folder outside the run)


def _edit_manifest(change: Callable[[dict[str, Any]], Any]) -> Damage:
    def damage(checkpoint: Path, spare: Path) -> None:
        manifest = json.loads((checkpoint / MANIFEST).read_text())
        change(manifest)
        (checkpoint / MANIFEST).write_text(json.dumps(manifest))

    return damage


def _rename_entry(new_name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda m: m.update(files={new_name: m["files"]["state.pt"]})


def _state_bytes(change: Callable[[bytes], bytes], fix_manifest: bool = False) -> Damage:
    def damage(checkpoint: Path, spare: Path) -> None:
        state = checkpoint / "state.pt"
        state.write_bytes(change(state.read_bytes()))
        if fix_manifest:
            rehash(checkpoint)

    return damage


def _flip(data: bytes) -> bytes:
    raw = bytearray(data)
    raw[len(raw) // 2] ^= 0xFF
    return bytes(raw)


def _outside_entry(checkpoint: Path, spare: Path) -> None:
    # an absolute path to a perfectly valid state file outside the checkpoint
    outside = spare / "elsewhere.pt"
    outside.write_bytes((checkpoint.parent / "step-000000006" / "state.pt").read_bytes())
    _edit_manifest(lambda m: m["files"].update({str(outside): m["files"]["state.pt"]}))(
        checkpoint, spare
    )
    manifest = json.loads((checkpoint / MANIFEST).read_text())
    del manifest["files"]["state.pt"]
    (checkpoint / MANIFEST).write_text(json.dumps(manifest))


def _linked_state(checkpoint: Path, spare: Path) -> None:
    # state.pt replaced by a link to a valid file elsewhere (same bytes: the hash matches)
    target = spare / "linked.pt"
    target.write_bytes((checkpoint / "state.pt").read_bytes())
    (checkpoint / "state.pt").unlink()
    (checkpoint / "state.pt").symlink_to(target)


def _linked_manifest(checkpoint: Path, spare: Path) -> None:
    target = spare / "MANIFEST.json"
    target.write_bytes((checkpoint / MANIFEST).read_bytes())
    (checkpoint / MANIFEST).unlink()
    (checkpoint / MANIFEST).symlink_to(target)


CASES: dict[str, tuple[Damage, str]] = {
    # the state file
    "state truncated": (_state_bytes(lambda b: b[:-7]), "state.pt is corrupt"),
    "state flipped byte": (_state_bytes(_flip), "state.pt is corrupt"),
    "state deleted": (lambda c, s: (c / "state.pt").unlink(), "state.pt cannot be read"),
    "state empty": (_state_bytes(lambda b: b""), "state.pt is corrupt"),
    "state empty, manifest matching": (
        _state_bytes(lambda b: b"", fix_manifest=True),
        "state.pt is not a torch.save file (empty)",
    ),
    "state garbage, manifest matching": (
        _state_bytes(lambda b: b"garbage" * 100, fix_manifest=True),
        "state.pt is not a torch.save file",
    ),
    "state is a symlink": (_linked_state, "state.pt cannot be read: [Errno 40]"),
    # the manifest
    "manifest deleted": (lambda c, s: (c / MANIFEST).unlink(), "MANIFEST.json is missing"),
    "manifest empty": (lambda c, s: (c / MANIFEST).write_bytes(b""), "cannot be read"),
    "manifest garbage bytes": (
        lambda c, s: (c / MANIFEST).write_bytes(b"\xff\xfe{garbage"),
        "MANIFEST.json cannot be read",
    ),
    "manifest a JSON list": (lambda c, s: (c / MANIFEST).write_text("[1, 2]"), "JSON object"),
    "manifest is a symlink": (_linked_manifest, "MANIFEST.json cannot be read"),
    "files is a list": (_edit_manifest(lambda m: m.update(files=["state.pt"])), "'files'"),
    "files empty": (_edit_manifest(lambda m: m.update(files={})), "'files'"),
    "entry is a string": (
        _edit_manifest(lambda m: m["files"].update({"state.pt": "abc"})),
        "entry of 'state.pt'",
    ),
    "bytes is a string": (
        _edit_manifest(lambda m: m["files"]["state.pt"].update(bytes="12")),
        "'bytes' of 'state.pt'",
    ),
    "sha256 missing": (
        _edit_manifest(lambda m: m["files"]["state.pt"].pop("sha256")),
        "'sha256' of 'state.pt'",
    ),
    "format_version a string": (
        _edit_manifest(lambda m: m.update(format_version="1")),
        "'format_version' is '1'",
    ),
    "format_version from the future": (
        _edit_manifest(lambda m: m.update(format_version=99)),
        "upgrade",
    ),
    "format missing": (_edit_manifest(lambda m: m.pop("format")), "'format' is None"),
    "position of wrong types": (
        _edit_manifest(lambda m: m.update(position={"global_step": "7"})),
        "'position'",
    ),
    # manifest entries that leave the checkpoint
    "entry ../": (_edit_manifest(_rename_entry("../step-000000006/state.pt")), "plain file name"),
    "entry absolute path": (_outside_entry, "plain file name"),
    "entry /dev/zero": (_edit_manifest(_rename_entry("/dev/zero")), "'/dev/zero'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_newest_checkpoint_is_named_skipped_and_the_resume_stays_exact(
    tmp_path: Path, case: str
) -> None:
    root, run = crashed_run(tmp_path)
    damage, expected = CASES[case]
    bad = run / "checkpoints" / "step-000000007"
    spare = tmp_path / "spare"
    spare.mkdir()
    damage(bad, spare)
    with caught() as messages:
        trainer = resume(root)
    skipped = [m for m in messages if m.startswith(f"skipping checkpoint {bad}")]
    assert len(skipped) == 1 and expected in skipped[0], messages
    reference, reference_metrics = straight()
    assert_same(reference, snapshot(trainer))  # resumed from step 6: nothing lost
    assert metrics_of(run) == reference_metrics
    assert os.listdir(spare) == [] or all((spare / n).is_file() for n in os.listdir(spare))


@pytest.mark.parametrize(
    "latest",
    [b"garbage\n", b"step-000000099\n", b"../../../victim\n", b"", b"\xff\xfe"],
    ids=["garbage", "missing", "outside", "empty", "bytes"],
)
def test_a_damaged_latest_pointer_is_ignored(tmp_path: Path, latest: bytes) -> None:
    root, run = crashed_run(tmp_path)
    (run / "checkpoints" / "latest").write_bytes(latest)
    found, _ = newest_valid(run / "checkpoints")
    assert found == run / "checkpoints" / "step-000000007"  # the newest position
    trainer = resume(root)
    assert_same(straight()[0], snapshot(trainer))


@pytest.mark.parametrize("content", [b"{not json", b"", b"[1, 2]", b"\xff\x00garbage"], ids=str)
def test_a_malformed_run_json_stops_the_resume_naming_it_and_nothing_is_written(
    tmp_path: Path, content: bytes
) -> None:
    root, run = crashed_run(tmp_path)
    (run / "run.json").write_bytes(content)
    before = {p.name: p.stat().st_mtime_ns for p in run.rglob("*")}
    metrics = (run / "metrics.jsonl").read_bytes()
    with pytest.raises(RunError, match=f"{run / 'run.json'} is unreadable"):
        resume(root)
    assert (run / "run.json").read_bytes() == content  # not "repaired" by overwriting
    assert (run / "metrics.jsonl").read_bytes() == metrics
    assert {p.name: p.stat().st_mtime_ns for p in run.rglob("*")} == before
    assert len(list((root / "default").iterdir())) == 1  # no silent fresh start elsewhere


def test_a_deleted_run_json_does_not_start_over(tmp_path: Path) -> None:
    # the run's checkpoints are valid: they are found and the run continues, in place
    root, run = crashed_run(tmp_path)
    (run / "run.json").unlink()
    with caught() as messages:
        trainer = resume(root)
    assert any(f"{run / 'run.json'} is missing" in m for m in messages), messages
    assert_same(straight()[0], snapshot(trainer))
    assert metrics_of(run) == straight()[1]
    assert json.loads((run / "run.json").read_text())["status"] == "COMPLETED"
    assert len(list((root / "default").iterdir())) == 1


def test_garbage_bytes_in_metrics_jsonl_are_named_and_skipped(tmp_path: Path) -> None:
    from unitrain.report.records import read_metrics

    _root, run = crashed_run(tmp_path)
    metrics = run / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines(keepends=True)
    metrics.write_bytes(b"".join([*lines[:2], b"\xff\xfe\x00garbage\n", *lines[2:]]))
    with caught() as messages:
        records = list(iter_metrics(metrics))
    assert len(records) == len(lines)
    assert any(f"{metrics}: skipped 1 line(s)" in m and "line 3" in m for m in messages)
    series = read_metrics(metrics).series["loss"]["train"]  # `unitrain report` reads it too
    assert len(series.values) == len([r for r in records if r["split"] == "train"]) == 7
