"""Exact resume: a run stopped anywhere and resumed equals the uninterrupted run, bit for bit.

The setup (tests/runs/trainkit.py) shuffles, uses dropout, Adam, a per-step scheduler and
gradient accumulation, so any state a checkpoint forgets shows up as a mismatch.
"""

from __future__ import annotations

import json
import logging
import random
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.runs.trainkit import (
    BATCH,
    SAMPLES,
    Crash,
    CrashAt,
    assert_same,
    make_data,
    make_trainer,
    snapshot,
)
from unitrain.errors import CheckpointError, UnitrainWarning
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore
from unitrain.runs.checkpoint import MANIFEST, list_checkpoints
from unitrain.runs.store import RunDir

EPOCHS = 3
BATCHES = SAMPLES // BATCH
TOTAL = EPOCHS * BATCHES


def _metrics(run: Path) -> list[tuple[Any, ...]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [tuple(sorted((k, v) for k, v in r.items() if k != "time")) for r in records]


@cache
def _straight(accumulation: int, generator: bool, eval_every_steps: int | None = None) -> Any:
    import tempfile

    root = Path(tempfile.mkdtemp())
    trainer = make_trainer(
        [RunStore(root, log_every_n_steps=1)],
        accumulation=accumulation,
        eval_every_steps=eval_every_steps,
    )
    trainer.fit(make_data(generator), eval_data=make_data())
    run = next((root / "default").iterdir())
    return snapshot(trainer), _metrics(run)


def _crash_and_resume(
    root: Path,
    crash_at: int,
    accumulation: int,
    generator: bool,
    eval_every_steps: int | None = None,
) -> tuple[Any, Path]:
    def data() -> Any:  # a fresh loader (and generator) per run
        return make_data(generator)

    crashing = make_trainer(
        [RunStore(root, log_every_n_steps=1), Checkpoint(every_n_steps=1), CrashAt(crash_at)],
        accumulation=accumulation,
        eval_every_steps=eval_every_steps,
    )
    with pytest.raises(Crash):
        crashing.fit(data(), eval_data=make_data())
    # a different initialisation and RNG state: everything must come from the checkpoint
    resumed = make_trainer(
        [RunStore(root, log_every_n_steps=1), Checkpoint(every_n_steps=1)],
        accumulation=accumulation,
        eval_every_steps=eval_every_steps,
        init_seed=99,
    )
    torch.manual_seed(4321)
    random.seed(5)
    np.random.seed(5)
    resumed.fit(data(), eval_data=make_data(), resume="latest")
    return snapshot(resumed), next((root / "default").iterdir())


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    crash_at=st.integers(min_value=1, max_value=TOTAL - 1),
    accumulation=st.sampled_from([1, 2, 4]),
    generator=st.booleans(),
)
def test_resumed_run_equals_the_uninterrupted_one_bit_for_bit(
    tmp_path_factory: pytest.TempPathFactory, crash_at: int, accumulation: int, generator: bool
) -> None:
    # scenario 1 and 20: weights, optimizer, counters and the metric series are identical
    root = tmp_path_factory.mktemp("run")
    resumed, run = _crash_and_resume(root, crash_at, accumulation, generator)
    straight, straight_metrics = _straight(accumulation, generator)
    assert_same(straight, resumed)
    assert _metrics(run) == straight_metrics  # each step exactly once, in order
    info = RunDir.open(run).info()
    assert info["status"] == "COMPLETED" and info["restarts"] == 1


def test_resume_right_after_an_evaluation(tmp_path: Path) -> None:
    # eval every 2 steps: the crash lands right after the eval of step 4
    resumed, run = _crash_and_resume(tmp_path, 4, 1, False, eval_every_steps=2)
    straight, straight_metrics = _straight(1, False, 2)
    assert_same(straight, resumed)
    assert _metrics(run) == straight_metrics


def test_resume_at_an_epoch_boundary(tmp_path: Path) -> None:
    resumed, run = _crash_and_resume(tmp_path, BATCHES, 2, True)
    assert_same(_straight(2, True)[0], resumed)
    names = [p.name for p in list_checkpoints(run / "checkpoints")]
    position = json.loads((run / "checkpoints" / names[0] / MANIFEST).read_text())["position"]
    assert position["batches_done"] in range(BATCHES)


class RandomDrawingPlugin:
    """A stateful plugin whose state_dict / load_state_dict draw random numbers."""

    name = "drawer"

    def __init__(self) -> None:
        self.count = 0

    def on_train_step_end(self) -> None:
        self.count += 1

    def state_dict(self) -> dict[str, Any]:
        torch.rand(3), random.random(), np.random.rand()
        return {"count": self.count}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        torch.rand(3)
        self.count = saved["count"]


def test_checkpointing_is_side_effect_free(tmp_path: Path) -> None:
    # scenario 2: checkpoints every step vs none, with a plugin that draws random numbers
    plain = make_trainer([RandomDrawingPlugin()], accumulation=2)
    plain.fit(make_data(), eval_data=make_data())
    saving = make_trainer(
        [RandomDrawingPlugin(), Checkpoint(tmp_path, every_n_steps=1, keep_last=None)],
        accumulation=2,
    )
    saving.fit(make_data(), eval_data=make_data())
    assert_same(snapshot(plain), snapshot(saving))
    assert torch.equal(torch.rand(5), torch.rand(5)) is False  # the streams are alive
    assert len(list_checkpoints(tmp_path)) == TOTAL // 2 + 1 or len(list_checkpoints(tmp_path)) > 3


def test_full_checkpoint_loads_weights_only_with_no_unsafe_globals(tmp_path: Path) -> None:
    # scenario 25: every field comes back with the same value and type
    trainer = make_trainer(
        [Checkpoint(tmp_path, every_n_steps=2), RandomDrawingPlugin()], accumulation=2
    )
    trainer.fit(make_data(True), eval_data=make_data(True))
    path = list_checkpoints(tmp_path)[-1] / "state.pt"
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []
    loaded = torch.load(path, weights_only=True)
    expected = trainer.state_dict()
    assert loaded.keys() == expected.keys()
    assert (
        loaded["data_order"]["now"]["rng"]["python"]
        == expected["data_order"]["now"]["rng"]["python"]
    )
    assert isinstance(loaded["data_order"]["now"]["rng"]["numpy"]["keys"], list)
    assert loaded["plugins"]["drawer"] == {"count": TOTAL}
    assert loaded["position"] == expected["position"]
    assert loaded["config"] == expected["config"]


def test_a_missing_plugin_warns_with_its_keys_and_a_new_one_starts_fresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # scenario 22
    first = make_trainer([Checkpoint(tmp_path), RandomDrawingPlugin()], max_epochs=1)
    first.fit(make_data())
    second = make_trainer([Checkpoint(tmp_path), Counter()], max_epochs=2)
    with (
        pytest.warns(UnitrainWarning, match=r"plugin 'drawer' \(keys: count\)"),
        caplog.at_level(logging.INFO, "unitrain.runs"),
    ):
        second.fit(make_data(), resume="latest")
    assert "'counter' has no state in the checkpoint" in caplog.text
    third = make_trainer([Checkpoint(tmp_path), RandomDrawingPlugin()], max_epochs=3)
    with pytest.warns(UnitrainWarning, match=r"plugin 'counter' \(keys: n\)"):
        third.fit(make_data(), resume="latest")
    # the drawer's state skipped the second run inside its checkpoint: 1 + 1 epochs counted
    drawer = third.plugins.get("drawer")
    assert isinstance(drawer, RandomDrawingPlugin) and drawer.count == 2 * BATCHES


class Counter:
    name = "counter"

    def __init__(self) -> None:
        self.n = 0

    def state_dict(self) -> dict[str, int]:
        return {"n": self.n}

    def load_state_dict(self, saved: dict[str, int]) -> None:
        self.n = saved["n"]


def test_resume_sources(tmp_path: Path) -> None:
    def trainer() -> Any:
        plugins = [RunStore(tmp_path), Checkpoint(every_n_epochs=1, keep_last=None)]
        return make_trainer(plugins, max_epochs=2)

    trainer().fit(make_data())
    run = next((tmp_path / "default").iterdir())
    first, last = list_checkpoints(run / "checkpoints")
    for source in (run, run / "checkpoints", last):  # a run, its checkpoints, one checkpoint
        again = trainer()
        again.fit(make_data(), resume=source)
        assert again.state.epoch == 2 and again.state.global_step == 2 * BATCHES
    older = trainer()
    older.fit(make_data(), resume=first)  # an older one: epoch 1 is trained again
    assert older.state.global_step == 2 * BATCHES
    assert RunDir.open(run).info()["restarts"] == 4
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        make_trainer().fit(make_data(), resume=tmp_path / "nope")
    with pytest.warns(UnitrainWarning, match="starting from scratch"):
        make_trainer([RunStore(tmp_path / "empty")], max_epochs=1).fit(make_data(), resume="latest")


def test_resume_skips_a_corrupt_newest_checkpoint_and_stays_exact(tmp_path: Path) -> None:
    # scenario 7 end to end: the newest is damaged, the previous one is used, result exact
    crashing = make_trainer(
        [RunStore(tmp_path, log_every_n_steps=1), Checkpoint(every_n_steps=1), CrashAt(9)]
    )
    with pytest.raises(Crash):
        crashing.fit(make_data(), eval_data=make_data())
    run = next((tmp_path / "default").iterdir())
    newest = list_checkpoints(run / "checkpoints")[-1]
    (newest / "state.pt").write_bytes(b"garbage")
    resumed = make_trainer(
        [RunStore(tmp_path, log_every_n_steps=1), Checkpoint(every_n_steps=1)], init_seed=3
    )
    with pytest.warns(UnitrainWarning, match=f"skipping checkpoint {newest}.*corrupt"):
        resumed.fit(make_data(), eval_data=make_data(), resume="latest")
    straight, straight_metrics = _straight(1, False)
    assert_same(straight, snapshot(resumed))
    assert _metrics(run) == straight_metrics


class NoisyStream:
    """An unsized iterable (like an IterableDataset loader) that shuffles with the global
    torch RNG and adds random noise to each batch as it is drawn."""

    def __init__(self) -> None:
        self.loader = make_data()

    def __iter__(self) -> Any:
        order = torch.randperm(len(self.loader.dataset))  # type: ignore[arg-type]
        for start in range(0, len(order), BATCH):
            x, y = self.loader.dataset[order[start : start + BATCH]]
            yield x + 0.01 * torch.randn_like(x), y


@pytest.mark.parametrize("crash_at", [3, 8])
def test_an_unsized_random_stream_with_accumulation_resumes_exactly(
    tmp_path: Path, crash_at: int
) -> None:
    straight = make_trainer(accumulation=4)
    straight.fit(NoisyStream())
    crashing = make_trainer(
        [Checkpoint(tmp_path, every_n_steps=1), CrashAt(crash_at)], accumulation=4
    )
    with pytest.raises(Crash):
        crashing.fit(NoisyStream())
    resumed = make_trainer([Checkpoint(tmp_path, every_n_steps=1)], accumulation=4, init_seed=3)
    resumed.fit(NoisyStream(), resume="latest")
    assert_same(snapshot(straight), snapshot(resumed))
