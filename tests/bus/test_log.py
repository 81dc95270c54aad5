"""BusLog (host reads every N steps, file, writer) and the heatmap PNG."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

import unitrain.bus as ub
from tests.bus.conftest import make_trainer, tiny_batches
from unitrain.bus import attach
from unitrain.errors import ConfigError


class Writer:
    """The writer protocol BusLog uses (add_scalar), recording its calls."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))


def test_log_reads_values_every_n_steps_and_writes_file_and_writer(tmp_path: Path) -> None:
    trainer = make_trainer(max_epochs=2)
    writer = Writer()
    sizes: list[int] = []
    log = ub.BusLog(every=3, path=tmp_path / "bus.jsonl", writer=writer)

    class Watch:
        def on_train_step_end(self, state: Any, batch: Any, result: Any) -> None:
            sizes.append(len(log.rows))

    trainer.add_plugin(Watch())
    attach(trainer, ub.NormSubscriber("weights"), ub.LossSubscriber(), log)
    trainer.fit(tiny_batches())
    # 2 weight norms + 1 loss per step, read after steps 2 and 5 (every 3rd delivery; the
    # plugin looks before the step's delivery), and the rest at the end of the fit
    assert sizes == [0, 0, 0, 9, 9, 9, 18, 18]
    assert len(log.rows) == 24
    lines = [json.loads(line) for line in (tmp_path / "bus.jsonl").read_text().splitlines()]
    # a module's record names its class (the report's heatmap rows); the loss has no module
    assert {(r["module"], r.get("module_class")) for r in lines} == {
        ("0", "Linear"),
        ("2", "Linear"),
        (None, None),
    }
    assert len(lines) == 24 and {"time", "split", "name", "value", "epoch", "step"} <= set(lines[0])
    assert lines[1]["name"] == "weights_norm2/0" and lines[1]["split"] == "bus"
    first = next(row for row in log.rows if row.topic == "weights_norm2")
    assert ("weights_norm2/0", first.value, 0) in writer.scalars and len(writer.scalars) == 24
    series = log.series("train_loss")
    assert series[None][0] == list(range(8))


def test_log_of_named_topics_only() -> None:
    trainer = make_trainer()
    log = ub.BusLog(["weights_norm2"], every=100)
    attach(trainer, ub.NormSubscriber("weights"), ub.LossSubscriber(), log)
    trainer.fit(tiny_batches())
    assert {row.topic for row in log.rows} == {"weights_norm2"} and len(log.rows) == 8


def test_log_keeps_histograms_on_the_host_side() -> None:
    trainer = make_trainer()
    log = ub.BusLog(every=2)
    attach(trainer, ub.HistogramSubscriber("weights", bins=4), log)
    trainer.fit(tiny_batches())
    edges, counts = log.histograms[("weights_histogram", "0")]
    assert len(edges) == 5 and sum(counts) == 48


def test_tensorboard_without_the_package_is_a_clear_error(tmp_path: Path) -> None:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorboard is installed")
    trainer = make_trainer()
    attach(trainer, ub.BusLog(tensorboard=tmp_path))
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        trainer.fit(tiny_batches())


def read_png(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    return width, height, zlib.decompress(data[start : start + length])


def test_heatmap_png_has_one_row_per_module_and_one_column_per_step(tmp_path: Path) -> None:
    trainer = make_trainer()
    log = ub.BusLog(every=1)
    attach(trainer, ub.NormSubscriber("activations"), log)
    trainer.fit(tiny_batches())
    rows = ub.heatmap_png(log, "activations_norm2", tmp_path / "h.png", scale=2)
    assert rows == ["0", "1", "2"]
    width, height, pixels = read_png(tmp_path / "h.png")
    assert (width, height) == (4 * 2, 3 * 2)
    assert len(pixels) == height * (1 + width * 3)
    with pytest.raises(ConfigError, match="no values of 'nope'"):
        ub.heatmap_png(log, "nope", tmp_path / "x.png")
