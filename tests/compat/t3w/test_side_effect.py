"""ISideEffect as a plugin on the one spec: the golden t3w event trace, scoping, ranks."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import unitrain as ut
from tests.compat.t3w._tiny import Accuracy, CrossEntropy, PointSet, make_module
from unitrain.compat import t3w


class Trace(t3w.ISideEffect):
    """Records every t3w event with t3w's arguments and the legacy progress view."""

    def __init__(self, log: list[tuple[Any, ...]], tag: str = "se") -> None:
        self.log, self.tag = log, tag

    def _progress(self, loop: Any) -> tuple[int, int]:
        progress = loop.model.training_progress
        return progress.epoch, progress.step

    def on_train_started(self, loop: Any) -> None:
        self.log.append((self.tag, "train_started", *self._progress(loop)))

    def on_train_epoch_started(self, loop: Any, epoch: int) -> None:
        self.log.append((self.tag, "train_epoch_started", epoch, *self._progress(loop)))

    def on_train_step_started(self, loop: Any, step: int, mb: Any) -> None:
        self.log.append((self.tag, "train_step_started", step, *self._progress(loop)))

    def on_train_step_finished(self, loop: Any, step: int, mb: Any, step_return: Any) -> None:
        assert sorted(step_return) == ["losses", "metrics"]
        weight, raw = step_return["losses"]["ce"]
        assert weight == 1.0 and raw.dim() == 0 and "acc" in step_return["metrics"]
        self.log.append((self.tag, "train_step_finished", step, *self._progress(loop)))

    def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
        self.log.append((self.tag, "train_epoch_finished", epoch, *self._progress(loop)))

    def on_train_finished(self, loop: Any) -> None:
        self.log.append((self.tag, "train_finished", *self._progress(loop)))

    def on_eval_started(self, loop: Any) -> None:
        assert isinstance(loop, t3w.EvalLoop)
        self.log.append((self.tag, "eval_started", *self._progress(loop)))

    def on_eval_step_started(self, loop: Any, step: int, mb: Any) -> None:
        self.log.append((self.tag, "eval_step_started", step))

    def on_eval_step_finished(self, loop: Any, step: int, mb: Any) -> None:
        assert mb.logits is not None  # filled by the model in place
        self.log.append((self.tag, "eval_step_finished", step))

    def on_eval_finished(self, loop: Any) -> None:
        assert set(loop.metric_values) == {"acc"}
        self.log.append((self.tag, "eval_finished", *self._progress(loop)))


class Native:
    """A native plugin logging into the same list, to check the interleaving."""

    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        self.log = log

    def on_epoch_end(self, state: ut.State) -> None:
        self.log.append(("native", "epoch_end", state.epoch))

    def on_fit_end(self, state: ut.State) -> None:
        self.log.append(("native", "fit_end"))


def _run(log: list[tuple[Any, ...]], train_se: list[Any], eval_se: list[Any]) -> None:
    module = make_module()
    evaluation = t3w.EvalLoop(
        PointSet(split="val", size=5, seed=1),
        metrics={"acc": t3w.AverageMetric(Accuracy())},
        side_effects=eval_se,
    )
    loop = t3w.TrainLoop(
        PointSet(size=8),
        module,
        losses={"ce": CrossEntropy()},
        metrics={"acc": Accuracy()},
        epochs=2,
        eval_loop=evaluation,
        side_effects=train_se,
        plugins=[Native(log)],
    )
    loop()


def test_golden_trace_nests_eval_in_the_epoch_and_fires_train_finished() -> None:
    log: list[tuple[Any, ...]] = []
    trace = Trace(log)
    _run(log, [trace], [trace])
    epoch = []
    for e in (0, 1):
        done = e + 1  # t3w counted the epoch as completed before eval and epoch_finished
        steps = 2 * e
        epoch += [
            ("se", "train_epoch_started", e, e, steps),
            ("se", "train_step_started", 0, e, steps),
            ("se", "train_step_finished", 0, e, steps + 1),
            ("se", "train_step_started", 1, e, steps + 1),
            ("se", "train_step_finished", 1, e, steps + 2),
            ("se", "eval_started", done, steps + 2),
            ("se", "eval_step_started", 0),
            ("se", "eval_step_finished", 0),
            ("se", "eval_finished", done, steps + 2),
            ("se", "train_epoch_finished", e, done, steps + 2),
            ("native", "epoch_end", e),
        ]
    expected = [
        ("se", "train_started", 0, 0),
        *epoch,
        ("se", "train_finished", 2, 4),  # the seed declared this event but never fired it
        ("native", "fit_end"),
    ]
    assert log == expected


def test_side_effects_hear_only_the_loops_they_are_listed_in() -> None:
    log: list[tuple[Any, ...]] = []
    train_only, eval_only = Trace(log, "train"), Trace(log, "eval")
    _run(log, [train_only], [eval_only])
    heard = {(tag, event) for tag, event, *_ in log}
    assert ("train", "train_step_finished") in heard and ("eval", "eval_finished") in heard
    assert not any(tag == "train" and event.startswith("eval") for tag, event in heard)
    assert not any(tag == "eval" and event.startswith("train") for tag, event in heard)


def test_only_overridden_events_become_hooks() -> None:
    class OnlyEnd(t3w.ISideEffect):
        def on_train_finished(self, loop: Any) -> None:
            pass

    manager = ut.PluginManager()
    manager.register(OnlyEnd(), "only_end")
    assert [impl.plugin_name for impl in manager.implementations("on_fit_end")] == ["only_end"]
    assert manager.implementations("on_train_step_end") == []
    assert OnlyEnd.unitrain_t3w_bridges == frozenset({"on_train_finished"})


def test_is_distributed_maps_to_the_rank_rule() -> None:
    class Everywhere(t3w.ISideEffect):
        is_distributed = True

    assert t3w.ISideEffect().ranks == "main"
    assert Everywhere().ranks == "all"
    worker = ut.PluginManager(rank=1)
    assert worker.register(Trace([]), "main_only") is None  # not registered off rank 0
    assert worker.register(Everywhere(), "everywhere") == "everywhere"


def test_defining_both_the_t3w_event_and_its_hook_is_refused() -> None:
    with pytest.raises(TypeError, match=r"on_train_started.*on_fit_start"):

        class Both(t3w.ISideEffect):
            def on_train_started(self, loop: Any) -> None:
                pass

            def on_fit_start(self, state: Any) -> None:
                pass


def test_a_side_effect_runs_in_a_plain_trainer_with_an_engine_loop_view() -> None:
    seen: list[tuple[str, Any]] = []

    class Watch(t3w.ISideEffect):
        def on_train_step_finished(self, loop: Any, step: int, mb: Any, step_return: Any) -> None:
            seen.append(
                (
                    "step",
                    (step, loop.progress.step, float(step_return["losses"]["loss"][1].detach())),
                )
            )

        def on_eval_finished(self, loop: Any) -> None:
            seen.append(("eval", sorted(loop.metric_values)))

    torch.manual_seed(0)
    x = torch.randn(8, 3)
    batches = [(x[:4], (x[:4].sum(1) > 0).long()), (x[4:], (x[4:].sum(1) > 0).long())]
    task = ut.Task(
        torch.nn.Linear(3, 2),
        loss=torch.nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
    )
    ut.Trainer(task, plugins=[Watch()], max_epochs=1, device="cpu").fit(batches, batches)
    assert [kind for kind, _ in seen] == ["step", "step", "eval"]
    assert seen[0][1][:2] == (0, 1) and seen[1][1][:2] == (1, 2)
    assert seen[2][1] == ["accuracy", "loss"]
