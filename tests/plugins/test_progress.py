import io
import json
import re

from rich.console import Console
from rich.text import Text

import unitrain as ut
from tests.plugins._tiny import tiny_batches, tiny_task
from unitrain.plugins import MetricsLog, ProgressBar


def test_plain_mode_prints_one_line_per_epoch_with_eval_values():
    out = io.StringIO()
    bar = ProgressBar(console=Console(file=out, force_terminal=False, width=200))
    assert bar.plain
    trainer = ut.Trainer(tiny_task(), max_epochs=3, device="cpu", plugins=[bar])
    trainer.fit(tiny_batches(), eval_data={"val": tiny_batches()})
    lines = [line for line in out.getvalue().splitlines() if line.startswith("epoch")]
    # numbered as the logs number epochs (from 0), then how far the fit is
    names = [line.split(":")[0] for line in lines]
    assert names == ["epoch 0 [1/3]", "epoch 1 [2/3]", "epoch 2 [3/3]"]
    assert all("loss" in line and "| val: loss" in line and "accuracy" in line for line in lines)
    assert all(" | ETA " in line for line in lines)
    assert "fit done" in out.getvalue() and "steps/s)" in out.getvalue()


def test_standalone_evaluate_prints_its_metrics():
    out = io.StringIO()
    bar = ProgressBar(console=Console(file=out, force_terminal=False))
    trainer = ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[bar])
    trainer.evaluate(tiny_batches(), split="test")
    assert "eval test: loss" in out.getvalue()
    trainer.evaluate(tiny_batches())  # the default split is "eval", not "test"
    assert "eval eval: loss" in out.getvalue()
    assert set(trainer.state.eval_metrics) == {"test", "eval"}


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
    assert "epoch 0 [1/2]" in text and "epoch 1 [2/2]:" in text and "val: loss" in text
    assert "fit (steps)" in text and "it/s" in text
    raw = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    eval_bars = [line for line in raw.splitlines() if line.startswith("eval val")]
    assert eval_bars and all("/4 " in line for line in eval_bars)  # of known length, not 0/?
    assert any(" 4/4 " in line for line in eval_bars)


def test_progress_runs_on_the_main_rank_only():
    manager = ut.PluginManager(rank=1)
    assert manager.register(ProgressBar(plain=True)) is None
    assert "progress" in manager.skipped


def test_the_epoch_line_shows_the_epoch_means_the_log_records(tmp_path):
    out = io.StringIO()
    bar = ProgressBar(console=Console(file=out, force_terminal=False, width=300))
    log = MetricsLog(tmp_path / "m.jsonl", every_n_steps=None)
    trainer = ut.Trainer(tiny_task(), max_epochs=2, device="cpu", plugins=[bar, log])
    trainer.fit(tiny_batches())
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    for epoch in (0, 1):
        means = {r["name"]: r["value"] for r in records if r["epoch"] == epoch}
        (line,) = [x for x in out.getvalue().splitlines() if x.startswith(f"epoch {epoch} [")]
        words = line.split(": ", 1)[1].split()
        shown = dict(zip(words[::2], words[1::2], strict=False))
        assert shown["loss"] == f"{means['loss']:.4g}" and shown["accuracy"] == (
            f"{means['accuracy']:.4g}"
        )


def test_plain_lines_carry_speed_and_eta():
    out = io.StringIO()
    bar = ProgressBar(console=Console(file=out, force_terminal=False), plain_every_seconds=0)
    ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[bar]).fit(tiny_batches())
    steps = [line for line in out.getvalue().splitlines() if " batch " in line]
    assert steps[0].startswith("epoch 0 [1/1] batch 1/4: loss ")
    assert "it/s | ETA " in steps[-1]
    assert "\x1b" not in out.getvalue()
