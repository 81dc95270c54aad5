"""The inlined step of an unmodified task does what the generic step does, event for event
and bit for bit, and gives way to the generic step whenever it cannot do the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import unitrain as ut
import unitrain.core.loop
import unitrain.tasks.fast_step
from tests.conftest import Unsized, make_batches
from unitrain.tasks.fast_step import make_fast_step, uses_default_stages

STEP_EVENTS = (
    "on_train_step_start",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_after_optimizer_step",
    "on_train_step_end",
)


class Seen:
    """Records every per-step event with what it was given (values copied out)."""

    name = "seen"

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    def _at(self, state: ut.State) -> tuple[int, ...]:
        return (state.epoch, state.batch_idx, state.global_step, state.micro_step)

    def on_train_step_start(self, state: ut.State, batch: Any) -> None:
        window = (state.accumulation_window, state.ends_window)
        self.log.append(("start", *self._at(state), window, _copy(batch)))

    def on_after_backward(self, state: ut.State, result: ut.StepResult) -> None:
        self.log.append(("backward", *self._at(state), _result(result)))

    def on_before_optimizer_step(self, state: ut.State, optimizer_idx: int) -> None:
        self.log.append(("before", *self._at(state), optimizer_idx))

    def on_after_optimizer_step(self, state: ut.State, optimizer_idx: int) -> None:
        self.log.append(("after", *self._at(state), optimizer_idx))

    def on_train_step_end(self, state: ut.State, batch: Any, result: ut.StepResult) -> None:
        self.log.append(("end", *self._at(state), _copy(batch), _result(result)))

    def on_eval_end(self, state: ut.State, split: str, metrics: dict[str, float]) -> None:
        self.log.append(("eval", *self._at(state), split, sorted(metrics.items())))


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, tuple | list):
        return (type(value).__name__, [_copy(item) for item in value])
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


def _result(result: ut.StepResult) -> Any:
    losses = {name: (weight, _copy(raw)) for name, (weight, raw) in result.losses.items()}
    metrics = {name: _copy(value) for name, value in result.metrics.items()}
    parts = (result.loss, result.outputs, result.targets)
    return (*(_copy(p) for p in parts), losses, metrics, result.batch_size)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, tuple | list):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


class Reweighted(nn.Module):
    loss_reweight = 0.25

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return outputs.pow(2).mean()


class TwoOptimizers(ut.Task):
    def make_optimizer(self, state: ut.State, model: nn.Module) -> list[torch.optim.Optimizer]:
        first, second = model[0], model[3]  # type: ignore[index]
        return [
            torch.optim.SGD(first.parameters(), lr=0.1),
            torch.optim.Adam(second.parameters(), lr=0.01),
        ]


def make_task(
    losses: int = 1, metrics: bool = False, optimizers: int = 1, only: str | None = None
) -> ut.Task:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Dropout(0.1), nn.Linear(5, 2))
    named: dict[str, Any] = {"ce": nn.CrossEntropyLoss(), "l2": Reweighted()}
    kind = ut.Task if optimizers == 1 else TwoOptimizers
    return kind(
        model,
        losses={only: named[only]} if only else dict(list(named.items())[:losses]),
        metrics={"accuracy": ut.accuracy} if metrics else None,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    )


class StepCounts:
    """Counts the steps each path ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
        self.fast = self.generic = 0
        real_generic = unitrain.core.loop.run_train_step

        def generic(*args: Any) -> None:
            self.generic += 1
            real_generic(*args)

        def maker(trainer: ut.Trainer, evals: Any) -> Any:
            step = make_fast_step(trainer, evals) if fast else None
            if step is None:
                return None

            def counted(batch: Any) -> bool:
                taken = step(batch)
                self.fast += taken
                return taken

            return counted

        monkeypatch.setattr(unitrain.core.loop, "run_train_step", generic)
        monkeypatch.setattr(unitrain.core.loop, "make_fast_step", maker)


def train(
    monkeypatch: pytest.MonkeyPatch,
    fast: bool,
    data: Any = None,
    task_options: Any = None,
    **settings: Any,
) -> tuple[Seen, dict[str, torch.Tensor], StepCounts]:
    with monkeypatch.context() as patch:
        path = StepCounts(patch, fast)
        task = make_task(**(task_options or {}))
        seen = Seen()
        settings.setdefault("max_epochs", 2)
        trainer = ut.Trainer(task, plugins=[seen], device="cpu", **settings)
        trainer.fit(make_batches(5) if data is None else data, eval_data=make_batches(2))
        return seen, task.model.state_dict(), path


def assert_paths_agree(monkeypatch: pytest.MonkeyPatch, **options: Any) -> StepCounts:
    fast_seen, fast_weights, fast_path = train(monkeypatch, True, **options)
    slow_seen, slow_weights, slow_path = train(monkeypatch, False, **options)
    assert slow_path.fast == 0 and slow_path.generic > 0
    assert len(fast_seen.log) == len(slow_seen.log)
    for index, (a, b) in enumerate(zip(fast_seen.log, slow_seen.log, strict=True)):
        assert _same(a, b), f"event {index} differs:\n  fast:    {a}\n  generic: {b}"
    for name, value in slow_weights.items():
        assert torch.equal(fast_weights[name], value), name
    return fast_path


def test_a_default_task_trains_on_the_fast_step(monkeypatch: pytest.MonkeyPatch) -> None:
    path = assert_paths_agree(monkeypatch)
    assert path.fast == 10 and path.generic == 0


@pytest.mark.parametrize(
    "options",
    [
        {"accumulation": 2},
        {"accumulation": 3, "data": Unsized(make_batches(7))},
        {"task_options": {"losses": 2, "metrics": True}},
        {"task_options": {"only": "l2"}},
        {"task_options": {"losses": 0}, "data": None, "max_epochs": 1, "fails": True},
        {"task_options": {"optimizers": 2}},
        {"eval_every_steps": 2, "eval_every_epochs": None},
        {"max_steps": 7},
        {"limit_train_batches": 3, "accumulation": 2},
    ],
    ids=[
        "accumulate",
        "unsized",
        "losses+metrics",
        "reweighted",
        "no-loss",
        "two-optimizers",
        "eval-steps",
        "max-steps",
        "limit",
    ],
)
def test_both_paths_agree_event_for_event(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    if options.pop("fails", False):
        for fast in (True, False):
            with pytest.raises(ut.StageError, match="produced no loss") as caught:
                train(monkeypatch, fast, **options)
            assert "plugin 'task' in hook 'run_backward'" in "\n".join(caught.value.__notes__)
        return
    path = assert_paths_agree(monkeypatch, **options)
    assert path.fast > 0 and path.generic == 0


@given(
    accumulation=st.integers(1, 3),
    batches=st.integers(1, 7),
    epochs=st.integers(1, 3),
    losses=st.integers(1, 2),
    every=st.none() | st.integers(1, 3),
)
def test_both_paths_agree_for_any_schedule(
    accumulation: int, batches: int, epochs: int, losses: int, every: int | None
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_paths_agree(
            monkeypatch,
            data=make_batches(batches),
            task_options={"losses": losses},
            accumulation=accumulation,
            max_epochs=epochs,
            eval_every_steps=every,
        )


class Shifted(ut.Task):
    def forward(self, inputs: Any) -> Any:
        return self.model(inputs) + 1.0


class BackwardTwice:
    def run_backward(self, state: ut.State, result: ut.StepResult) -> bool:
        (result.loss * 2).backward()  # type: ignore[union-attr]
        return True


def test_an_overridden_step_or_a_stage_plugin_runs_the_generic_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(0)
    shifted = Shifted(nn.Linear(3, 2), loss=nn.CrossEntropyLoss(), optimizer=_sgd)
    assert not uses_default_stages(shifted)
    plain = ut.Task(nn.Linear(3, 2), loss=nn.CrossEntropyLoss(), optimizer=_sgd)
    plain.compute_losses = lambda *args: {}  # type: ignore[method-assign]
    assert not uses_default_stages(plain)
    for task, plugins in ((shifted, []), (_task(), [BackwardTwice()])):
        trainer = ut.Trainer(task, plugins=plugins, max_epochs=1, device="cpu")
        assert make_fast_step(trainer, {}) is None
        with monkeypatch.context() as patch:
            path = StepCounts(patch, True)
            trainer.fit(make_batches(3))
        assert (path.fast, path.generic) == (0, 3)


def _sgd(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.1)


def _task() -> ut.Task:
    torch.manual_seed(0)
    return ut.Task(nn.Linear(3, 2), loss=nn.CrossEntropyLoss(), optimizer=_sgd)


def test_other_batches_take_the_generic_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def mixed() -> Iterator[Any]:
        for index, (x, y) in enumerate(make_batches(4)):
            yield {"input": x, "target": y} if index % 2 else (x, y)

    class Mixed:
        def __iter__(self) -> Iterator[Any]:
            return mixed()

    with monkeypatch.context() as patch:
        path = StepCounts(patch, True)
        ut.Trainer(_task(), max_epochs=1, device="cpu").fit(Mixed())
    assert (path.fast, path.generic) == (2, 2)


class Joiner:
    """Registers a listener in the middle of the epoch."""

    def __init__(self, trainer: ut.Trainer, late: Seen) -> None:
        self.trainer, self.late = trainer, late

    def on_train_step_end(self, state: ut.State) -> None:
        if state.batch_idx == 1:
            self.trainer.add_plugin(self.late)


def test_a_plugin_added_mid_epoch_hears_the_next_step(monkeypatch: pytest.MonkeyPatch) -> None:
    late = Seen()
    trainer = ut.Trainer(_task(), max_epochs=1, device="cpu")
    trainer.add_plugin(Joiner(trainer, late))
    with monkeypatch.context() as patch:
        path = StepCounts(patch, True)
        trainer.fit(make_batches(4))
    assert [entry[0] for entry in late.log if entry[0] == "start"] == ["start", "start"]
    assert [entry[2] for entry in late.log if entry[0] == "start"] == [2, 3]
    assert (path.fast, path.generic) == (2, 2)


class Exploding(nn.Linear):
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        raise ValueError("model says no")


class BrokenOptimizer(torch.optim.SGD):
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        raise RuntimeError("optimizer says no")


@pytest.mark.parametrize(
    ("model", "optimizer", "hook"),
    [
        (Exploding(3, 2), _sgd, "run_forward"),
        (nn.Linear(3, 2), lambda params: BrokenOptimizer(params, lr=0.1), "run_optimizer_step"),
    ],
    ids=["forward", "optimizer"],
)
def test_errors_name_the_stage_on_both_paths(
    monkeypatch: pytest.MonkeyPatch, model: nn.Module, optimizer: Any, hook: str
) -> None:
    notes = []
    for fast in (True, False):
        with monkeypatch.context() as patch:
            StepCounts(patch, fast)
            task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=optimizer)
            trainer = ut.Trainer(task, max_epochs=1, device="cpu")
            with pytest.raises((ValueError, RuntimeError), match="says no") as caught:
                trainer.fit(make_batches(2))
        notes.append(caught.value.__notes__)
    assert notes[0] == notes[1]
    assert (
        f"raised by plugin 'task' in hook {hook!r} (stage fit, epoch 0, batch_idx 0"
        in (notes[0][0])
    )


def test_a_step_nobody_listens_to_builds_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[ut.StepResult] = []
    real = unitrain.tasks.fast_step.StepResult

    def counted(*args: Any) -> ut.StepResult:
        built.append(real(*args))
        return built[-1]

    monkeypatch.setattr(unitrain.tasks.fast_step, "StepResult", counted)
    weights = []
    for plugins in ([], [Seen()]):
        task = make_task()
        with monkeypatch.context() as patch:
            path = StepCounts(patch, True)
            ut.Trainer(task, plugins=plugins, max_epochs=1, device="cpu").fit(make_batches(4))
        assert path.fast == 4
        weights.append(task.model.state_dict())
    assert len(built) == 4  # the second fit's steps, for Seen; none for the bare fit
    assert all(result.batch_size == 4 and result.loss is not None for result in built)
    for name, value in weights[0].items():
        assert torch.equal(weights[1][name], value), name


class Annealer:
    """Anneals the loss weight: the instance's own value every step, the class's every epoch."""

    def __init__(self, loss: nn.Module) -> None:
        self.loss = loss

    def on_epoch_start(self, state: ut.State) -> None:
        Reweighted.loss_reweight = 0.25 * (state.epoch + 1)

    def on_train_step_start(self, state: ut.State) -> None:
        if state.batch_idx % 2:
            self.loss.loss_reweight = 1.0 / (state.batch_idx + 1)
        else:
            del self.loss.__dict__["loss_reweight"]  # the class's value again


@pytest.mark.parametrize("listened", [False, True], ids=["bare", "listened"])
def test_an_annealed_loss_weight_is_read_every_step(
    monkeypatch: pytest.MonkeyPatch, listened: bool
) -> None:
    weights = []
    try:
        for fast in (True, False):
            task = make_task(only="l2")
            loss = task.losses["l2"]
            loss.loss_reweight = 1.0
            plugins = [Annealer(loss), *([Seen()] if listened else [])]
            with monkeypatch.context() as patch:
                path = StepCounts(patch, fast)
                trainer = ut.Trainer(task, plugins=plugins, max_epochs=2, device="cpu")
                trainer.fit(make_batches(4))
            assert path.fast == (8 if fast else 0)
            weights.append(task.model.state_dict())
    finally:
        Reweighted.loss_reweight = 0.25
    for name, value in weights[1].items():
        assert torch.equal(weights[0][name], value), name


class Scheduled(nn.Module):
    """A loss whose class computes its weight: halved at every call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    @property
    def loss_reweight(self) -> float:
        return 0.5**self.calls

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return outputs.pow(2).mean()


def test_a_weight_computed_by_the_class_is_read_every_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    weights, seen = [], []
    for fast in (True, False):
        torch.manual_seed(0)
        task = ut.Task(nn.Linear(3, 2), losses={"scheduled": Scheduled()}, optimizer=_sgd)
        recorder = Seen()
        with monkeypatch.context() as patch:
            path = StepCounts(patch, fast)
            ut.Trainer(task, plugins=[recorder], max_epochs=1, device="cpu").fit(make_batches(3))
        assert path.fast == (3 if fast else 0)
        weights.append(task.model.state_dict())
        seen.append([entry[-1][3]["scheduled"][0] for entry in recorder.log if entry[0] == "end"])
    assert seen == [[1.0, 0.5, 0.25]] * 2  # read before each call of the loss
    for name, value in weights[1].items():
        assert torch.equal(weights[0][name], value), name
