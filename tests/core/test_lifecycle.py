"""Golden event sequences: normal end, stop requests, exceptions in every event, evaluation
every N epochs / N steps, several splits, and standalone evaluate() / predict()."""

from __future__ import annotations

import pytest
import torch

import unitrain as ut
from tests.conftest import Recorder, make_batches, make_task

OPTIM = ("after_backward", "before_optimizer_step", "after_optimizer_step")
STEP = ["train_step_start", "train_step_end"]
FULL_STEP = [
    "train_step_start",
    "after_backward",
    "before_optimizer_step",
    "after_optimizer_step",
    "train_step_end",
]


def evaluation(split: str = "val", batches: int = 1) -> list[str]:
    steps = [f"eval_step_start:{split}", f"eval_step_end:{split}"] * batches
    return [f"eval_start:{split}", *steps, f"eval_end:{split}"]


def fit(recorder: Recorder, *, batches: int = 2, eval_batches: int = 1, **settings: object):
    settings.setdefault("max_epochs", 2)
    trainer = ut.Trainer(make_task(), plugins=[recorder], device="cpu", **settings)  # type: ignore[arg-type]
    eval_data = make_batches(eval_batches) if eval_batches else None
    return trainer, trainer.fit(make_batches(batches), eval_data=eval_data)


def test_normal_end_full_sequence() -> None:
    recorder = Recorder()
    _, state = fit(recorder)
    epoch = ["epoch_start", *FULL_STEP, *FULL_STEP, *evaluation(), "epoch_end"]
    assert recorder.events == ["fit_start", *epoch, *epoch, "fit_end"]
    assert (state.epoch, state.global_step, state.micro_step, state.phase) == (2, 4, 4, "idle")


def test_counters_beside_their_events() -> None:
    recorder = Recorder()
    fit(recorder, max_epochs=1)
    seen = {(name, epoch, idx, step) for name, epoch, idx, step, _ in recorder.snapshots}
    # batch_idx is the step's own index at its end; global_step already counts its step
    assert ("train_step_start", 0, 1, 1) in seen
    assert ("after_optimizer_step", 0, 1, 1) in seen  # incremented after the last optimizer
    assert ("train_step_end", 0, 1, 2) in seen
    assert ("epoch_end", 0, 2, 2) in seen
    assert recorder.snapshots[-1][:4] == ("fit_end", 1, 2, 2)


# (where the stop is requested, occurrence, when) -> expected sequence, 3 batches, 2 epochs
EPOCH = ["epoch_start", *STEP * 3, *evaluation(), "epoch_end"]
STOPS = {
    ("fit_start", 1, "now"): ["fit_start", "fit_end"],
    ("epoch_start", 1, "now"): ["fit_start", "epoch_start", "epoch_end", "fit_end"],
    ("train_step_start", 2, "now"): ["fit_start", "epoch_start", *STEP * 2, "epoch_end", "fit_end"],
    ("train_step_end", 1, "now"): ["fit_start", "epoch_start", *STEP, "epoch_end", "fit_end"],
    ("train_step_end", 1, "epoch_end"): ["fit_start", *EPOCH, "fit_end"],
    ("eval_end:val", 1, "now"): ["fit_start", *EPOCH, "fit_end"],
    ("epoch_end", 1, "epoch_end"): ["fit_start", *EPOCH, "fit_end"],
    ("epoch_start", 2, "epoch_end"): ["fit_start", *EPOCH, *EPOCH, "fit_end"],
    ("train_step_end", 4, "now"): [
        "fit_start",
        *EPOCH,
        "epoch_start",
        *STEP,
        "epoch_end",
        "fit_end",
    ],
}


@pytest.mark.parametrize(("where", "expected"), list(STOPS.items()), ids=str)
def test_stop_requests(where: tuple[str, int, str], expected: list[str]) -> None:
    recorder = Recorder(stop_at=where)
    _, state = fit(recorder, batches=3)
    assert recorder.names(without=OPTIM) == expected
    assert state.stop_requested == where[2]
    assert state.stop_reason == "test"


def test_stop_now_wins_over_epoch_end() -> None:
    state = ut.State()
    state.request_stop("epoch_end", reason="first")
    state.request_stop("now", reason="second")
    state.request_stop("epoch_end", reason="third")
    assert (state.stop_requested, state.stop_reason) == ("now", "second")


def test_a_new_fit_clears_an_old_stop_request() -> None:
    recorder = Recorder(stop_at=("train_step_end", 1, "now"))
    trainer, state = fit(recorder, max_epochs=3)
    assert state.global_step == 1
    trainer.fit(make_batches(2))
    assert state.global_step == 1 + 2 * 2  # epochs 1 and 2 of 3 run to the end


RAISING_EVENTS = [
    "fit_start",
    "epoch_start",
    "train_step_start",
    "after_backward",
    "before_optimizer_step",
    "after_optimizer_step",
    "train_step_end",
    "eval_start:val",
    "eval_step_start:val",
    "eval_step_end:val",
    "eval_end:val",
    "epoch_end",
    "fit_end",
]


@pytest.mark.parametrize("event", RAISING_EVENTS)
def test_exception_in_each_event(event: str) -> None:
    normal = Recorder()
    fit(normal)
    once = event in ("fit_start", "fit_end")
    failing, observer = Recorder(raise_at=(event, 1 if once else 2)), Recorder()
    trainer = ut.Trainer(make_task(), plugins=[failing, observer], max_epochs=2, device="cpu")
    with pytest.raises(RuntimeError, match="boom") as caught:
        trainer.fit(make_batches(2), eval_data=make_batches(1))
    # up to the failing call the run is the normal one; then on_exception, then nothing
    cut = [i for i, name in enumerate(normal.events) if name == event][0 if once else 1]
    assert failing.events == [*normal.events[: cut + 1], "exception"]
    assert observer.events == [*normal.events[:cut], "exception"]
    assert observer.errors == [caught.value]
    notes = "\n".join(caught.value.__notes__)
    hook = "on_" + event.split(":")[0]
    assert f"plugin 'recorder' in hook {hook!r}" in notes
    _, epoch, batch_idx, step, _ = failing.snapshots[-1]
    assert f"epoch {epoch}, batch_idx {batch_idx}, global_step {step}" in notes
    assert notes.count("unitrain: raised by") == 1
    assert trainer.state.phase == "idle"
    assert trainer.state.model is not None and trainer.state.model.training


def test_exception_in_the_loop_itself_gets_one_note_and_on_exception() -> None:
    recorder = Recorder()

    class BadLoss(torch.nn.Module):
        def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            raise ValueError("bad loss")

    trainer = ut.Trainer(make_task(loss=BadLoss()), plugins=[recorder], max_epochs=1, device="cpu")
    with pytest.raises(ValueError, match="bad loss") as caught:
        trainer.fit(make_batches(2))
    assert recorder.events == ["fit_start", "epoch_start", "train_step_start", "exception"]
    assert "plugin 'task' in hook 'run_forward'" in "\n".join(caught.value.__notes__)


def test_eval_every_n_epochs() -> None:
    recorder = Recorder()
    fit(recorder, max_epochs=4, eval_every_epochs=2, batches=1)
    plain = ["epoch_start", *STEP, "epoch_end"]
    with_eval = ["epoch_start", *STEP, *evaluation(), "epoch_end"]
    expected = ["fit_start", *plain, *with_eval, *plain, *with_eval, "fit_end"]
    assert recorder.names(without=OPTIM) == expected


def test_eval_every_n_steps() -> None:
    recorder = Recorder()
    fit(recorder, max_epochs=2, eval_every_epochs=None, eval_every_steps=2, batches=3)
    # global steps 1..6; evaluation after steps 2, 4 and 6, wherever they fall in an epoch
    first = ["epoch_start", *STEP, *STEP, *evaluation(), *STEP, "epoch_end"]
    second = ["epoch_start", *STEP, *evaluation(), *STEP, *STEP, *evaluation(), "epoch_end"]
    assert recorder.names(without=OPTIM) == ["fit_start", *first, *second, "fit_end"]
    at_eval = [s for s in recorder.snapshots if s[0] == "eval_start:val"]
    assert [s[3] for s in at_eval] == [2, 4, 6]


def test_eval_every_n_steps_counts_optimizer_steps_under_accumulation() -> None:
    recorder = Recorder()
    fit(
        recorder,
        max_epochs=1,
        eval_every_epochs=None,
        eval_every_steps=1,
        batches=4,
        accumulation=2,
    )
    epoch = ["epoch_start", *STEP * 2, *evaluation(), *STEP * 2, *evaluation(), "epoch_end"]
    assert recorder.names(without=OPTIM) == ["fit_start", *epoch, "fit_end"]


def test_several_splits_in_order() -> None:
    recorder = Recorder()
    trainer = ut.Trainer(make_task(), plugins=[recorder], max_epochs=1, device="cpu")
    state = trainer.fit(
        make_batches(1), eval_data={"val": make_batches(2), "test": make_batches(1)}
    )
    expected = ["epoch_start", *STEP, *evaluation("val", 2), *evaluation("test"), "epoch_end"]
    assert recorder.names(without=OPTIM) == ["fit_start", *expected, "fit_end"]
    assert set(state.eval_metrics) == {"val", "test"}
    assert set(state.eval_metrics["val"]) == {"loss", "accuracy"}


def test_evaluate_standalone() -> None:
    recorder = Recorder()
    trainer = ut.Trainer(make_task(), plugins=[recorder], max_epochs=1, device="cpu")
    metrics = trainer.evaluate(make_batches(3), split="test")
    assert recorder.events == evaluation("test", 3)
    assert metrics == trainer.state.eval_metrics["test"]
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["loss"] > 0
    assert trainer.state.phase == "idle" and trainer.state.optimizers == ()
    assert [s[2] for s in recorder.snapshots if s[0].startswith("eval_step_end")] == [0, 1, 2]


def test_evaluate_averages_by_sample_count() -> None:
    task = make_task()
    trainer = ut.Trainer(task, max_epochs=1, device="cpu")
    data = make_batches(1, size=6) + make_batches(1, size=2, seed=1)
    metrics = trainer.evaluate(data)
    with torch.no_grad():
        inputs = torch.cat([x for x, _ in data])
        targets = torch.cat([y for _, y in data])
        outputs = task.model(inputs)
        loss = torch.nn.functional.cross_entropy(outputs, targets)
        accuracy = ut.accuracy(outputs, targets).mean()
    assert metrics["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert metrics["accuracy"] == pytest.approx(accuracy.item())


def test_predict_standalone() -> None:
    recorder = Recorder()
    task = make_task()
    trainer = ut.Trainer(task, plugins=[recorder], max_epochs=1, device="cpu")
    data = make_batches(2)
    outputs = trainer.predict(data)
    assert recorder.events == [
        "predict_start",
        "predict_step_end",
        "predict_step_end",
        "predict_end",
    ]
    assert len(outputs) == 2
    with torch.no_grad():
        assert torch.equal(outputs[0], task.model(data[0][0]))
    assert not outputs[0].requires_grad
    assert trainer.state.phase == "idle"


def test_evaluate_during_and_after_fit_restores_train_mode() -> None:
    recorder = Recorder()
    trainer, state = fit(recorder, max_epochs=1)
    assert state.model is not None and state.model.training
    trainer.evaluate(make_batches(1))
    assert state.model.training
    assert state.split is None


def test_predict_restores_the_model_mode_and_position() -> None:
    trainer = ut.Trainer(make_task(), max_epochs=1, device="cpu")
    assert trainer.state.model is not None
    trainer.state.batch_idx = 5
    trainer.predict(make_batches(2))
    assert trainer.state.model.training and trainer.state.batch_idx == 5
    trainer.state.model.eval()
    trainer.predict(make_batches(1))
    assert not trainer.state.model.training


def test_a_plugin_may_evaluate_and_predict_during_a_fit() -> None:
    class Probe:
        trainer: ut.Trainer

        def __init__(self) -> None:
            self.seen: list[tuple[str, int, bool]] = []

        def on_epoch_end(self, state: ut.State) -> None:
            self.trainer.evaluate(make_batches(1), split="probe")
            self.trainer.predict(make_batches(1))
            assert state.model is not None
            self.seen.append((state.phase, state.batch_idx, state.model.training))

    probe, recorder = Probe(), Recorder()
    trainer = ut.Trainer(make_task(), plugins=[probe, recorder], max_epochs=2, device="cpu")
    probe.trainer = trainer
    trainer.fit(make_batches(2))
    assert probe.seen == [("fit", 2, True), ("fit", 2, True)]
    assert recorder.events.count("epoch_end") == 2 and recorder.events[-1] == "fit_end"


def test_a_failing_nested_evaluation_calls_on_exception_once() -> None:
    class Probe:
        trainer: ut.Trainer

        def on_epoch_end(self, state: ut.State) -> None:
            self.trainer.evaluate(["not a batch"], split="probe")

    probe, recorder = Probe(), Recorder()
    trainer = ut.Trainer(make_task(), plugins=[probe, recorder], max_epochs=1, device="cpu")
    probe.trainer = trainer
    with pytest.raises(ut.BatchError):
        trainer.fit(make_batches(1))
    assert recorder.events.count("exception") == 1 and trainer.state.phase == "idle"
