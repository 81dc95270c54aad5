"""There is one training step. A task that overrides none of its sub-steps runs their work
flattened into ``run_forward`` (``TaskBase.default_steps``), and the step binds a stage
that only the task implements straight to its method and skips events nobody listens to
(``unitrain.core.plan``). None of that may change what happens: a task whose sub-step
is overridden by a pass-through (the chain ``compute_step`` → ``split_batch`` → ``forward``
→ ``compute_losses`` → ``compute_metrics``) must see the same events with the same values
and end with the same weights, bit for bit, on every schedule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import unitrain as ut
import unitrain.tasks.train
from tests.conftest import Unsized, make_batches
from unitrain.core.plan import step_plan
from unitrain.tasks.base import TaskBase

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


def chained(base: type[ut.Task]) -> type[ut.Task]:
    """``base`` with a pass-through ``split_batch``: it runs the sub-steps one by one."""

    def split_batch(self: ut.Task, batch: Any) -> tuple[Any, Any]:
        return base.split_batch(self, batch)

    return type(f"Chained{base.__name__}", (base,), {"split_batch": split_batch})


def make_task(
    losses: int = 1,
    metrics: bool = False,
    optimizers: int = 1,
    only: str | None = None,
    flat: bool = True,
) -> ut.Task:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Dropout(0.1), nn.Linear(5, 2))
    named: dict[str, Any] = {"ce": nn.CrossEntropyLoss(), "l2": Reweighted()}
    kind = ut.Task if optimizers == 1 else TwoOptimizers
    kind = kind if flat else chained(kind)
    return kind(
        model,
        losses={only: named[only]} if only else dict(list(named.items())[:losses]),
        metrics={"accuracy": ut.accuracy} if metrics else None,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    )


class StepCounts:
    """Counts the training steps run flattened and through the sub-step chain."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.flat = self.chain = 0
        real_new, real_step = unitrain.tasks.train._new, TaskBase.compute_step

        def new(kind: type) -> Any:  # a StepResult made in train.py by the flat step only
            self.flat += kind is ut.StepResult
            return real_new(kind)

        def compute_step(task: TaskBase, batch: Any) -> ut.StepResult:
            self.chain += torch.is_grad_enabled()  # evaluation runs without a graph
            return real_step(task, batch)

        monkeypatch.setattr(unitrain.tasks.train, "_new", new)
        monkeypatch.setattr(TaskBase, "compute_step", compute_step)


def train(
    monkeypatch: pytest.MonkeyPatch,
    flat: bool,
    data: Any = None,
    task_options: Any = None,
    **settings: Any,
) -> tuple[Seen, dict[str, torch.Tensor], StepCounts]:
    with monkeypatch.context() as patch:
        counts = StepCounts(patch)
        task = make_task(**(task_options or {}), flat=flat)
        seen = Seen()
        settings.setdefault("max_epochs", 2)
        trainer = ut.Trainer(task, plugins=[seen], device="cpu", **settings)
        trainer.fit(make_batches(5) if data is None else data, eval_data=make_batches(2))
        return seen, task.model.state_dict(), counts


def assert_paths_agree(monkeypatch: pytest.MonkeyPatch, **options: Any) -> StepCounts:
    flat_seen, flat_weights, flat_counts = train(monkeypatch, True, **options)
    chain_seen, chain_weights, chain_counts = train(monkeypatch, False, **options)
    assert chain_counts.flat == 0 and chain_counts.chain > 0
    assert len(flat_seen.log) == len(chain_seen.log)
    for index, (a, b) in enumerate(zip(flat_seen.log, chain_seen.log, strict=True)):
        assert _same(a, b), f"event {index} differs:\n  flat:  {a}\n  chain: {b}"
    for name, value in chain_weights.items():
        assert torch.equal(flat_weights[name], value), name
    return flat_counts


def test_a_default_task_runs_its_steps_flattened(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = assert_paths_agree(monkeypatch)
    assert counts.flat == 10 and counts.chain == 0


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
def test_flat_and_chained_agree_event_for_event(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    if options.pop("fails", False):
        for flat in (True, False):
            with pytest.raises(ut.StageError, match="produced no loss") as caught:
                train(monkeypatch, flat, **options)
            assert "plugin 'task' in hook 'run_backward'" in "\n".join(caught.value.__notes__)
        return
    counts = assert_paths_agree(monkeypatch, **options)
    assert counts.flat > 0 and counts.chain == 0


@given(
    accumulation=st.integers(1, 3),
    batches=st.integers(1, 7),
    epochs=st.integers(1, 3),
    losses=st.integers(1, 2),
    every=st.none() | st.integers(1, 3),
)
def test_flat_and_chained_agree_for_any_schedule(
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


def _sgd(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.1)


def _task() -> ut.Task:
    torch.manual_seed(0)
    return ut.Task(nn.Linear(3, 2), loss=nn.CrossEntropyLoss(), optimizer=_sgd)


def test_an_override_is_found_once_per_class_or_on_the_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ut.Task.default_steps and _task().default_steps
    shifted = Shifted(nn.Linear(3, 2), loss=nn.CrossEntropyLoss(), optimizer=_sgd)
    assert not Shifted.default_steps and not shifted.default_steps
    plain = _task()
    plain.compute_losses = lambda *args: {}  # type: ignore[method-assign]
    assert not plain.default_steps and ut.Task.default_steps
    with monkeypatch.context() as patch:
        counts = StepCounts(patch)
        trainer = ut.Trainer(shifted, max_epochs=1, device="cpu")
        trainer.fit(make_batches(3))
    assert (counts.flat, counts.chain) == (0, 3)
    with pytest.raises(ut.StageError, match="produced no loss"):  # its own compute_losses ran
        ut.Trainer(plain, max_epochs=1, device="cpu").fit(make_batches(3))


def test_a_stage_only_the_task_implements_is_its_method(monkeypatch: pytest.MonkeyPatch) -> None:
    task = _task()
    trainer = ut.Trainer(task, max_epochs=1, device="cpu")
    plan = step_plan(trainer.plugins)
    assert plan.forward == task.run_forward and plan.backward == task.run_backward
    assert plan.on_start is None and plan.on_end is None  # nobody listens: no call at all
    seen = Seen()
    trainer.add_plugin(seen)
    plan = step_plan(trainer.plugins)  # a registration makes a new plan
    assert plan.on_start is not None and plan.forward == task.run_forward
    trainer.add_plugin(BackwardTwice())
    plan = step_plan(trainer.plugins)
    assert plan.backward != task.run_backward  # two implementations: the relay
    trainer.fit(make_batches(3))
    assert [entry[0] for entry in seen.log].count("end") == 3


def test_other_batches_run_the_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    def mixed() -> Iterator[Any]:
        for index, (x, y) in enumerate(make_batches(4)):
            yield {"input": x, "target": y} if index % 2 else (x, y)

    class Mixed:
        def __iter__(self) -> Iterator[Any]:
            return mixed()

    with monkeypatch.context() as patch:
        counts = StepCounts(patch)
        ut.Trainer(_task(), max_epochs=1, device="cpu").fit(Mixed())
    assert (counts.flat, counts.chain) == (2, 2)


class Joiner:
    """Registers a listener in the middle of the epoch."""

    def __init__(self, trainer: ut.Trainer, late: Seen) -> None:
        self.trainer, self.late = trainer, late

    def on_train_step_end(self, state: ut.State) -> None:
        if state.batch_idx == 1:
            self.trainer.add_plugin(self.late)


def test_a_plugin_added_mid_epoch_hears_the_next_step() -> None:
    late = Seen()
    trainer = ut.Trainer(_task(), max_epochs=1, device="cpu")
    trainer.add_plugin(Joiner(trainer, late))
    trainer.fit(make_batches(4))
    assert [entry[0] for entry in late.log if entry[0] == "start"] == ["start", "start"]
    assert [entry[2] for entry in late.log if entry[0] == "start"] == [2, 3]


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
@pytest.mark.parametrize("listened", [False, True], ids=["bound", "relayed"])
def test_errors_name_the_plugin_the_hook_and_the_step(
    model: nn.Module, optimizer: Any, hook: str, listened: bool
) -> None:
    notes = []
    for flat in (True, False):
        kind = ut.Task if flat else chained(ut.Task)
        task = kind(model, loss=nn.CrossEntropyLoss(), optimizer=optimizer)
        # a second implementation of the stage makes the step call it through the relay
        plugins = [Passing()] if listened else []
        trainer = ut.Trainer(task, plugins=plugins, max_epochs=1, device="cpu")
        with pytest.raises((ValueError, RuntimeError), match="says no") as caught:
            trainer.fit(make_batches(2))
        notes.append(caught.value.__notes__)
    assert notes[0] == notes[1]
    assert len(notes[0]) == 1
    assert (
        f"raised by plugin 'task' in hook {hook!r} (phase fit, epoch 0, batch_idx 0"
        in (notes[0][0])
    )


class Passing:
    """Implements the stages and answers none of them (the task's default then runs)."""

    def run_forward(self, state: ut.State, batch: Any) -> None:
        return None

    def run_optimizer_step(self, state: ut.State, optimizer: Any, optimizer_idx: int) -> None:
        return None


def test_every_step_builds_its_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """One path: the StepResult is built whether or not anyone listens (the old inlined
    step built it only for listeners), and listeners change nothing in the weights."""
    built: list[ut.StepResult] = []
    real = unitrain.tasks.train._new  # the flat step makes its StepResult with it

    def counted(kind: type) -> Any:
        made = real(kind)
        if kind is ut.StepResult:
            built.append(made)
        return made

    monkeypatch.setattr(unitrain.tasks.train, "_new", counted)
    weights = []
    for plugins in ([], [Seen()]):
        task = make_task()
        ut.Trainer(task, plugins=plugins, max_epochs=1, device="cpu").fit(make_batches(4))
        weights.append(task.model.state_dict())
    assert len(built) == 8  # four steps of each fit
    assert all(result.batch_size == 4 and result.loss is not None for result in built)
    for name, value in weights[0].items():
        assert torch.equal(weights[1][name], value), name


class Annealer:
    """Anneals the loss weight: the instance's own value and the class's, every step."""

    def __init__(self, loss: nn.Module) -> None:
        self.loss = loss

    def on_train_step_start(self, state: ut.State) -> None:
        Reweighted.loss_reweight = 0.25 * (state.batch_idx + 1)
        if state.batch_idx % 2:
            self.loss.loss_reweight = 1.0 / (state.batch_idx + 1)
        else:
            del self.loss.__dict__["loss_reweight"]  # the class's value again


def test_an_annealed_loss_weight_is_read_every_step() -> None:
    """Instance and class values both count at every step (the old inlined step read the
    class's once an epoch): the weights the step used are the ones set just before it."""
    try:
        task = make_task(only="l2")
        loss = task.losses["l2"]
        loss.loss_reweight = 1.0
        recorder = Seen()
        trainer = ut.Trainer(task, plugins=[Annealer(loss), recorder], max_epochs=2, device="cpu")
        trainer.fit(make_batches(4))
    finally:
        Reweighted.loss_reweight = 0.25
    used = [entry[-1][3]["l2"][0] for entry in recorder.log if entry[0] == "end"]
    assert used == [0.25, 1.0 / 2, 0.75, 1.0 / 4] * 2


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


def test_a_weight_computed_by_the_class_is_read_every_step() -> None:
    weights, seen = [], []
    for flat in (True, False):
        torch.manual_seed(0)
        kind = ut.Task if flat else chained(ut.Task)
        task = kind(nn.Linear(3, 2), losses={"scheduled": Scheduled()}, optimizer=_sgd)
        recorder = Seen()
        ut.Trainer(task, plugins=[recorder], max_epochs=1, device="cpu").fit(make_batches(3))
        weights.append(task.model.state_dict())
        seen.append([entry[-1][3]["scheduled"][0] for entry in recorder.log if entry[0] == "end"])
    assert seen == [[1.0, 0.5, 0.25]] * 2  # read before each call of the loss
    for name, value in weights[1].items():
        assert torch.equal(weights[0][name], value), name
