"""ikkuna's own driver shape (``driver.py``: main.py + train/train.py) with every shipped
subscriber, run as a user runs it, its TensorBoard output read back with tensorboard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[3]
CONVS = ["/features/conv2d0", "/features/conv2d1"]  # ikkuna's names, module_filter=[Conv2d]


def _scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    assert accumulator.Tags()["scalars"] == [tag], folder
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("driver")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    code = "from tests.compat.ikkuna.driver import main\nmain('logs', epochs=2)\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir / "logs" / "run0"


def test_every_subscriber_writes_under_ikkunas_titles_and_module_names(run_dir: Path) -> None:
    folders = {p.name for p in run_dir.iterdir() if p.is_dir()}
    assert folders == {
        "weights_spectral_norm_", "weight_gradients_variance_", "test_accuracy_test_accuracy",
        "train_batch_accuracy_train_batch_accuracy", "weight_updates_weights_ratio_",
        "message_means_weight_updates_weights_ratio_message_mean", "weights_norm2_",
        "Loss_loss", "activations_mean_", "activations_sum_", "weights_condition_number_",
        "self_similarity_",
    }  # fmt: skip
    for per_module in ("weights_spectral_norm", "weight_updates_weights_ratio", "weights_norm2"):
        found = sorted(
            "/" + str(p.relative_to(run_dir / f"{per_module}_")) for p in
            (run_dir / f"{per_module}_").glob("*/*") if p.is_dir()
        )  # fmt: skip
        assert found == CONVS, per_module
        for module in CONVS:  # 2 epochs of 8 batches: one point per train step
            points = _scalars(run_dir / f"{per_module}_{module}", per_module)
            assert [step for step, _ in points] == list(range(16))
            assert all(value > 0 for _, value in points)


def test_derived_and_network_values_are_the_ones_ikkuna_plotted(run_dir: Path) -> None:
    ratios = [
        dict(
            _scalars(run_dir / f"weight_updates_weights_ratio_{m}", "weight_updates_weights_ratio")
        )
        for m in CONVS
    ]
    means = _scalars(
        run_dir / "message_means_weight_updates_weights_ratio_message_mean", "message_means"
    )
    assert [step for step, _ in means] == list(range(16))
    for step, mean in means:  # the mean over modules of the ratio, at the same step
        assert mean == pytest.approx((ratios[0][step] + ratios[1][step]) / 2, rel=1e-6)
    # the test set (40 samples) is evaluated at train steps 0 and 8, as in ikkuna
    tests = _scalars(run_dir / "test_accuracy_test_accuracy", "test_accuracy")
    assert [step for step, _ in tests] == [0, 8]
    assert all(round(value * 40) == pytest.approx(value * 40, abs=1e-5) for _, value in tests)
    train = _scalars(run_dir / "train_batch_accuracy_train_batch_accuracy", "train_batch_accuracy")
    assert [step for step, _ in train] == list(range(16))
    assert all(round(value * 16) == pytest.approx(value * 16, abs=1e-5) for _, value in train)
    loss = [value for _, value in _scalars(run_dir / "Loss_loss", "Loss")]
    assert len(loss) == 16 and sum(loss[-4:]) < sum(loss[:4])  # it learns
    similarity = _scalars(run_dir / f"self_similarity_{CONVS[0]}", "self_similarity")
    assert [step for step, _ in similarity] == [8] and 0.0 < similarity[0][1] <= 1.0


def test_histograms_and_run_info_text(run_dir: Path) -> None:
    accumulator = EventAccumulator(str(run_dir), size_guidance={"histograms": 0, "tensors": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    assert sorted(tags["histograms"]) == [f"weights_histogram: {m}" for m in CONVS]
    first = accumulator.Histograms(f"weights_histogram: {CONVS[0]}")
    assert [event.step for event in first] == list(range(16))
    assert first[0].histogram_value.num == 4 * 1 * 3 * 3  # every weight of the first conv
    texts = accumulator.Tensors("run_conf/text_summary")  # one per plotting subscriber
    assert len(texts) == 13
    assert {bytes(t.tensor_proto.string_val[0]) for t in texts} == {
        b"driver: every shipped subscriber"
    }
