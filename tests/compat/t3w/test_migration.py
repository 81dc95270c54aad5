"""What the import-prefix migration relies on: t3w's names at t3w's module paths, the
minibatch ``batch_size`` assignment, media producers, the Aim extra, the small utilities."""

from __future__ import annotations

import importlib
import io
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
import torch

from tests.compat.t3w._tiny import Accuracy, CrossEntropy, PointSet, make_module
from unitrain.compat import t3w
from unitrain.errors import ConfigError


def test_star_import_gives_the_names_t3w_client_code_uses() -> None:
    namespace: dict[str, Any] = {}
    exec("from unitrain.compat.t3w import *", namespace)
    for name in (
        "FloatScalarTensor", "MiniBatchFloats", "Sequence", "List", "Tensor", "Float",
        "Shaped", "IMediaProducer", "MediaData", "MediaType", "ProbeData", "AimSideEffect",
        "TopLevelModule", "TrainLoop", "EvalLoop", "ISideEffect", "manual_seed", "nn",
        "torch", "TqdmSideEffect", "SaveBestModelsSideEffect", "WarmUpSideEffect", "utils",
    ):  # fmt: skip
        assert name in namespace, name
    assert namespace["Tensor"] is torch.Tensor
    # jaxtyping-style annotations evaluate (t3w's examples evaluate them in __init__)
    annotation = namespace["Shaped"][torch.Tensor, "_ C H W"]
    assert annotation.__origin__ is torch.Tensor


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("unitrain.compat.t3w.core", "TopLevelModule"),
        ("unitrain.compat.t3w.core", "IMediaProducer"),
        ("unitrain.compat.t3w.plugins", "TqdmSideEffect"),
        ("unitrain.compat.t3w.plugins.tqdm", "TqdmSideEffect"),
        ("unitrain.compat.t3w.plugins.model_select", "SaveBestModelsSideEffect"),
        ("unitrain.compat.t3w.plugins.warmup", "WarmUpSideEffect"),
        ("unitrain.compat.t3w.plugins.aim", "AimSideEffect"),
        ("unitrain.compat.t3w.utils", "HarderBatchSampler"),
        ("unitrain.compat.t3w.utils.dataset_samplers", "HarderBatchSampler"),
        ("unitrain.compat.t3w.utils.misc", "work_directory"),
        ("unitrain.compat.t3w.utils.subcommand", "cmd"),
        ("unitrain.compat.t3w.utils.verbose", "millify"),
    ],
)
def test_t3w_module_paths_exist_under_the_prefix(path: str, name: str) -> None:
    assert hasattr(importlib.import_module(path), name)
    if hasattr(t3w, name):  # one object, whichever path it is imported from
        assert getattr(importlib.import_module(path), name) is getattr(t3w, name)


class _Batch(t3w.IMiniBatch):
    def __init__(self, batch_size: int, x: torch.Tensor) -> None:
        self.batch_size = batch_size
        self.x = x


def test_a_minibatch_sets_batch_size_in_init_as_t3w_ones_do() -> None:
    mb = _Batch(3, torch.zeros(3, 2))
    assert (mb.batch_size, mb.nopad_batch_size, mb._nopad_batch_size) == (3, 3, 3)
    mb._nopad_batch_size = 2  # what t3w's mark_padding did for a padded last batch
    assert (mb.batch_size, mb.padding, mb.nopad_batch_size) == (3, 1, 2)
    mb.batch_size = 3  # setting it again marks every sample real
    assert mb.nopad_batch_size == 3
    assert "_t3w_batch_size" not in dict(mb.tensors())
    with pytest.raises(TypeError, match="number of samples"):
        _Batch(-1, torch.zeros(1))


def test_average_metric_sums_per_sample_values_exactly() -> None:
    metric = t3w.AverageMetric(Accuracy())
    assert metric.eval() == 0.0  # t3w: sum / max(count, 1)
    module = make_module().train(False)
    data = PointSet(size=13, seed=3)
    values = []
    # batched in three or in one: the very same value (t3w's float32 means * sizes differ)
    for batches in ([range(5), range(5, 10), range(10, 13)], [range(13)]):
        metric.reset()
        for indices in batches:
            mb = data.datum_type.collate([data[i] for i in indices])
            module(mb)
            metric.update(mb)
        values.append(metric.eval())
    assert values[0] == values[1]
    assert values[0] * 13 == round(values[0] * 13)


class _Note(t3w.IMediaProducer):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def on_epoch_start(self) -> None:
        self.calls.append("start")

    def forward(self, mb: Any) -> Sequence[t3w.MediaData]:
        return [t3w.MediaData(f"{mb.batch_size} samples", t3w.MediaType.TEXT, "size")]

    def on_epoch_end(self) -> None:
        self.calls.append("end")


class _Reader(t3w.ISideEffect):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_train_step_finished(self, loop: Any, step: int, mb: Any, step_return: Any) -> None:
        self.seen += [m.media_data for m in loop.medias.get_latest_output()]

    def on_eval_step_finished(self, loop: Any, step: int, mb: Any) -> None:
        self.seen += ["eval " + m.media_data for m in loop.medias.get_latest_output()]


def test_media_producers_feed_the_side_effects_each_step() -> None:
    train_notes, eval_notes, reader = _Note(), _Note(), _Reader()
    evaluation = t3w.EvalLoop(
        PointSet(split="val", size=5, seed=1),
        metrics={"acc": t3w.AverageMetric(Accuracy())},
        medias=[eval_notes],
        side_effects=[reader],
    )
    t3w.TrainLoop(
        PointSet(size=8),
        make_module(),
        losses={"ce": CrossEntropy()},
        medias=[train_notes],
        epochs=2,
        eval_loop=evaluation,
        side_effects=[reader],
    )()
    assert reader.seen == ["4 samples", "4 samples", "eval 5 samples"] * 2
    assert train_notes.calls == eval_notes.calls == ["start", "end"] * 2


def test_aim_side_effect_names_the_extra_when_aim_is_missing() -> None:
    if importlib.util.find_spec("aim") is not None:
        pytest.skip("aim is installed here")
    with pytest.raises(ConfigError, match=r"unitrain\[aim\]"):
        t3w.AimSideEffect(experiment="x", hparams_dict={"lr": 0.1})


def test_progress_writes_text_lines_where_the_output_is_no_terminal() -> None:
    stream = io.StringIO()
    bars = t3w.TqdmSideEffect(postfix_keys=["ce"], file=stream)
    evaluation = t3w.EvalLoop(
        PointSet(split="val", size=5, seed=1),
        metrics={"acc": t3w.AverageMetric(Accuracy())},
        side_effects=[bars],
    )
    t3w.TrainLoop(
        PointSet(size=8),
        make_module(),
        losses={"ce": CrossEntropy()},
        epochs=2,
        eval_loop=evaluation,
        side_effects=[bars],
    )()
    lines = stream.getvalue().splitlines()
    # as in t3w, an epoch's evaluation runs (and its bar closes) before the epoch's bar
    assert lines[0] == "Eval 1: 1/1" and lines[2] == "Eval 2: 1/1"
    assert lines[1].startswith("Train 0: 2/2 ce=1.0*") and lines[3].startswith("Train 1: 2/2")
    assert lines[4:] == ["Epochs: 2/2"]


def test_utilities() -> None:
    from unitrain.compat.t3w.utils import cmd, main, millify

    assert [millify(n) for n in (0, 999, 1000, 1234567, 2.5e12)] == [
        "0",
        "999",
        "1K",
        "1.2M",
        "2.5T",
    ]
    ran: list[list[str]] = []

    @cmd
    def hello(argv: list[str]) -> None:
        ran.append(argv)

    main(["hello", "a"])
    assert ran == [["a"]]
    with pytest.raises(RuntimeError, match="hello"):
        cmd(hello)


def test_probe_prints_the_batch_and_a_model_free_eval_runs_with_it() -> None:
    code = (
        "from tests.compat.t3w._tiny import PointSet\n"
        "from unitrain.compat import t3w\n"
        "from unitrain.compat.t3w import ProbeData, TopLevelModule, EvalLoop\n"
        "EvalLoop(PointSet(size=5), TopLevelModule(ProbeData(breakpoint=False)))()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Points:") and "'logits': None" in done.stdout
