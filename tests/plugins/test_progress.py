import io

from rich.console import Console
from rich.text import Text

import unitrain as ut
from tests.plugins._tiny import tiny_batches, tiny_task
from unitrain.plugins import ProgressBar


def test_plain_mode_prints_one_line_per_epoch_with_eval_values():
    out = io.StringIO()
    bar = ProgressBar(console=Console(file=out, force_terminal=False, width=200))
    assert bar.plain
    trainer = ut.Trainer(tiny_task(), max_epochs=3, device="cpu", plugins=[bar])
    trainer.fit(tiny_batches(), eval_data={"val": tiny_batches()})
    lines = [line for line in out.getvalue().splitlines() if line.startswith("epoch")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1", "epoch 2", "epoch 3"]
    assert all("loss" in line and "| val: loss" in line and "accuracy" in line for line in lines)
    assert "fit done" in out.getvalue()


def test_standalone_evaluate_prints_its_metrics():
    out = io.StringIO()
    bar = ProgressBar(console=Console(file=out, force_terminal=False))
    trainer = ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[bar])
    trainer.evaluate(tiny_batches(), split="test")
    assert "eval test: loss" in out.getvalue()


def test_values_are_read_on_the_timer_not_per_step(monkeypatch):
    calls = []
    original = ProgressBar._values
    monkeypatch.setattr(ProgressBar, "_values", lambda self: calls.append(1) or original(self))
    bar = ProgressBar(console=Console(file=io.StringIO()), plain=True, plain_every_seconds=1e9)
    ut.Trainer(tiny_task(), max_epochs=2, device="cpu", plugins=[bar]).fit(tiny_batches() * 10)
    assert len(calls) == 2  # one read per epoch line; none for the 80 steps


def test_terminal_mode_renders_bars():
    out = io.StringIO()
    bar = ProgressBar(console=Console(file=out, force_terminal=True, width=120), refresh_seconds=0)
    assert not bar.plain
    trainer = ut.Trainer(tiny_task(), max_epochs=2, device="cpu", plugins=[bar])
    trainer.fit(tiny_batches(), eval_data=tiny_batches())
    text = Text.from_ansi(out.getvalue()).plain
    assert "epoch 1/2" in text and "epoch 2:" in text and "val: loss" in text


def test_progress_runs_on_the_main_rank_only():
    manager = ut.PluginManager(rank=1)
    assert manager.register(ProgressBar(plain=True)) is None
    assert "progress" in manager.skipped
