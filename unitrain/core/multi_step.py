"""Several optimizers with their own losses, and optimization by hand: the two training
steps besides :func:`unitrain.core.loop.train_step`, one of which is chosen once per fit.

``state.optimization`` (read from the task's ``optimization`` attribute when the optimizers
are made) picks the step:

- ``"automatic"``: one loss per batch, every optimizer steps on it at the window's end
  (:func:`unitrain.core.loop.train_step`; this module is not involved).
- ``"per_optimizer"``: each optimizer has its own loss, computed **sequentially**, as the
  hand-written alternating (GAN) loop does. For each micro-step::

      on_train_step_start(batch); batch = run_prepare_batch(batch)
      for each optimizer i, in order (state.optimizer_idx = i):
          with only optimizer i's parameters requiring grad:
              result_i = run_forward(batch)     # optimizer i's loss, computed after the
                                                # optimizers before it stepped
              run_backward(result_i)            # / accumulation_window; scaled under AMP
          (micro_step += 1 after optimizer 0's backward)
          on_after_backward(result_i)
          if the window ends:
              on_before_optimizer_step(i); run_optimizer_step(i); on_after_optimizer_step(i)
              zero optimizer i's gradients
      state.optimizer_idx = None
      if the window ends: global_step += 1; step the schedulers of interval "step"
      on_train_step_end(batch, result)          # result: the optimizers' results combined

  While optimizer ``i``'s loss is computed, the parameters of the *other* optimizers are
  set not to require grad (Lightning's ``toggle_optimizer``): each optimizer's gradient is
  the gradient of its own loss only (a generator loss that runs through the discriminator
  leaves no gradient on the discriminator), also when gradients accumulate over a window.
  Without accumulation this is bit for bit the hand-written loop "for each optimizer: zero
  its gradients, compute its loss, backward, clip, step" (``tests/core/test_multi_step.py``).
- ``"manual"``: the task steps its optimizers itself, through the
  :class:`ManualOptimization` handle it is given (``task.manual_step(batch, manual)``)::

      on_train_step_start(batch); batch = run_prepare_batch(batch)
      result = run_forward(batch)               # the task's manual_step: for each optimizer
                                                # it wants to step: manual.backward(loss)
                                                # (= run_backward), manual.step(i) (=
                                                # on_before / run / on_after_optimizer_step,
                                                # then its gradients are zeroed)
      micro_step += 1; on_after_backward(result)
      if the window ends and the task stepped an optimizer in it:
          grad_scaler.update() (once, when a scaler is set); global_step += 1;
          step the schedulers of interval "step"
      on_train_step_end(batch, result)

The rest of the loop (evaluations every N steps, ``max_time``, stops, checkpoints, exact
resume) is the same in every mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, get_args

import torch

from unitrain.core.passes import finish_train_step
from unitrain.core.plan import STEP_HOOKS, StepPlan, step_plan
from unitrain.core.result import StepResult, no_result
from unitrain.core.schedule import step_schedulers
from unitrain.core.stash import StashKey
from unitrain.core.state import Optimization
from unitrain.core.window import clear_gradients, enter_window
from unitrain.errors import ConfigError, StageError

if TYPE_CHECKING:
    from unitrain.core.data import Loader
    from unitrain.core.running import Running
    from unitrain.core.state import State

__all__ = [
    "MANUAL",
    "ManualOptimization",
    "StepFunction",
    "manual_train_step",
    "only_optimizer",
    "optimization_of",
    "per_optimizer_train_step",
    "step_function",
]

StepFunction = Callable[["Running", Any, "dict[str, Loader]"], StepResult]

MANUAL: StashKey[ManualOptimization] = StashKey("trainer.manual_optimization")
"""The handle of the manual step running now (``state.stash[MANUAL]``)."""


def optimization_of(task: object) -> Optimization:
    """The task's ``optimization`` (``"automatic"`` when it has none), checked."""
    mode: Any = getattr(task, "optimization", "automatic")
    if mode not in get_args(Optimization):
        raise ConfigError(
            f"{type(task).__name__}.optimization = {mode!r}: expected one of "
            f"{', '.join(map(repr, get_args(Optimization)))}"
        )
    result: Optimization = mode
    return result


def step_function(state: State, automatic: StepFunction) -> StepFunction:
    """The training step of ``state.optimization`` (``automatic`` for ``"automatic"``)."""
    if state.optimization == "per_optimizer":
        return per_optimizer_train_step
    if state.optimization == "manual":
        return manual_train_step
    return automatic


@contextmanager
def only_optimizer(state: State, index: int) -> Iterator[None]:
    """Within the block, only optimizer ``index``'s parameters require grad: the other
    optimizers' parameters that did are switched off and switched back on afterwards
    (frozen parameters and parameters of no optimizer are left as they are)."""
    groups = getattr(state.optimizers[index], "param_groups", ())  # duck-typed: none known
    own = {id(p) for group in groups for p in group["params"]}
    switched = {
        id(p): p
        for other, optimizer in enumerate(state.optimizers)
        if other != index
        for group in getattr(optimizer, "param_groups", ())  # duck-typed: none known
        for p in group["params"]
        if p.requires_grad and id(p) not in own
    }
    for parameter in switched.values():
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in switched.values():
            parameter.requires_grad_(True)


# ------------------------------------------------------------------ per optimizer


def per_optimizer_train_step(engine: Running, batch: Any, evals: dict[str, Loader]) -> StepResult:
    """One micro-step with one loss per optimizer, computed in turn (see the module)."""
    state, plugins, config = engine.state, engine.plugins, engine.config
    plan = step_plan(plugins)  # not the cache itself: its layout is the plan module's
    try:
        if config.accumulation > 1:
            enter_window(state, config.accumulation)
        if plan.on_start is not None:
            plan.on_start(state, batch)
        batch = None if plan.prepare is None else plan.prepare(state, batch)
        results: list[StepResult] = []
        for index, optimizer in enumerate(state.optimizers):
            state.optimizer_idx = index
            with only_optimizer(state, index):
                result = None if plan.forward is None else plan.forward(state, batch)
                _check_optimizer_result(result, index)
                assert result is not None
                if plan.backward is not None:
                    plan.backward(state, result)
            if index == 0:
                state.micro_step += 1
            if plan.on_backward is not None:
                plan.on_backward(state, result)
            if state.ends_window:
                _step_one(state, plan, optimizer, index)
            results.append(result)
        state.optimizer_idx = None
        combined = _combine(results)
        if state.ends_window:
            _count_step(engine)
        if plan.on_end is not None:
            plan.on_end(state, batch, combined)
    except BaseException as error:  # a caller bound straight to a plugin adds no note
        state.optimizer_idx = None
        plugins.note_raised(error, STEP_HOOKS)
        raise
    _finish(engine, evals)
    return combined


def _check_optimizer_result(result: object, index: int) -> None:
    if not isinstance(result, StepResult):
        raise StageError(
            no_result(
                "run_forward",
                f"a StepResult with optimizer {index}'s loss (per-optimizer optimization: "
                "the stage runs once per optimizer, state.optimizer_idx says which)",
                result,
            )
        )
    if result.loss is None:
        raise StageError(
            f"per-optimizer optimization: run_forward returned no loss for optimizer {index} "
            "(state.optimizer_idx); every optimizer needs a loss each step. Give "
            "unitrain.Task an optimizer_losses= entry for it, or return it from "
            "compute_optimizer_step"
        )


def _combine(results: list[StepResult]) -> StepResult:
    """One result for the step's end: the sum of the optimizers' losses (detached, for
    logging), every named loss and metric of each, the first one's outputs."""
    losses: dict[str, tuple[float, torch.Tensor]] = {}
    metrics: dict[str, torch.Tensor] = {}
    total: torch.Tensor | None = None
    for result in results:
        assert result.loss is not None
        loss = result.loss.detach()
        total = loss if total is None else total + loss
        losses.update({name: (w, raw.detach()) for name, (w, raw) in result.losses.items()})
        metrics.update(result.metrics)
    first = results[0]
    return StepResult(total, losses, metrics, first.outputs, first.targets, first.batch_size)


# ------------------------------------------------------------------ manual


class ManualOptimization:
    """What a task that optimizes by hand is given each micro-step (``manual_step(batch,
    manual)``): its optimizers and the two calls that keep the trainer's plugins in the loop.

    ``backward(loss)`` runs the ``run_backward`` stage (so the loss is divided by the
    accumulation window, scaled by the grad scaler under mixed precision, checked by
    ``NanGuard``); ``step(i)`` fires ``on_before_optimizer_step`` (clipping, unscaling),
    ``run_optimizer_step`` and ``on_after_optimizer_step`` for optimizer ``i`` and zeroes its
    gradients, when the accumulation window ends (else it does nothing and returns
    ``False``, so the same code accumulates). ``toggle(i)`` is a context in which only
    optimizer ``i``'s parameters require grad. The handle is valid during its micro-step only.
    """

    __slots__ = ("_plan", "_state", "backwards", "live", "stepped")

    def __init__(self, state: State, plan: StepPlan) -> None:
        self._state = state
        self._plan = plan
        self.backwards = 0
        self.stepped = False
        self.live = True

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        """The trainer's optimizers, in ``make_optimizer``'s order."""
        return self._state.optimizers

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss`` through the ``run_backward`` stage."""
        self._check_live("backward")
        if not isinstance(loss, torch.Tensor):
            raise StageError(f"manual.backward(loss): expected a tensor, got {type(loss)!r}")
        if self._plan.backward is not None:
            self._plan.backward(self._state, StepResult(loss=loss))
        self.backwards += 1

    def step(self, optimizer: int | torch.optim.Optimizer) -> bool:
        """Step one optimizer (an index or the optimizer itself) if the window ends."""
        self._check_live("step")
        index = self._index(optimizer)
        state = self._state
        if not state.ends_window:
            return False
        _step_one(state, self._plan, state.optimizers[index], index)
        self.stepped = True
        return True

    def zero_grad(self, optimizer: int | torch.optim.Optimizer) -> None:
        """Clear one optimizer's gradients (``step`` already does after stepping)."""
        self._check_live("zero_grad")
        clear_gradients(self._state.optimizers[self._index(optimizer)])

    def toggle(self, optimizer: int | torch.optim.Optimizer) -> Any:
        """``with manual.toggle(i):`` only optimizer ``i``'s parameters require grad."""
        self._check_live("toggle")
        return only_optimizer(self._state, self._index(optimizer))

    def _index(self, optimizer: int | torch.optim.Optimizer) -> int:
        optimizers = self._state.optimizers
        if isinstance(optimizer, int) and not isinstance(optimizer, bool):
            if 0 <= optimizer < len(optimizers):
                return optimizer
            raise StageError(
                f"manual optimization: optimizer index {optimizer} is out of range; the "
                f"trainer has {len(optimizers)} optimizer(s), indices 0..{len(optimizers) - 1}"
            )
        for index, candidate in enumerate(optimizers):
            if candidate is optimizer:
                return index
        raise StageError(
            f"manual optimization: {type(optimizer).__name__} is not one of the trainer's "
            "optimizers; pass an index or one of manual.optimizers (the ones make_optimizer "
            "made, which checkpoints save)"
        )

    def _check_live(self, call: str) -> None:
        if not self.live:
            raise StageError(
                f"manual.{call}(...) called after its training step ended; use the handle "
                "only inside the manual_step it was given to"
            )


def manual_train_step(engine: Running, batch: Any, evals: dict[str, Loader]) -> StepResult:
    """One micro-step in which the task optimizes by hand (see the module)."""
    state, plugins, config = engine.state, engine.plugins, engine.config
    plan = step_plan(plugins)  # not the cache itself: its layout is the plan module's
    manual = ManualOptimization(state, plan)
    state.stash[MANUAL] = manual
    try:
        if config.accumulation > 1:
            enter_window(state, config.accumulation)
        if plan.on_start is not None:
            plan.on_start(state, batch)
        batch = None if plan.prepare is None else plan.prepare(state, batch)
        result = None if plan.forward is None else plan.forward(state, batch)
        if not isinstance(result, StepResult):
            raise StageError(no_result("run_forward", "a StepResult (manual optimization)", result))
        loss = result.loss
        if loss is not None and loss.requires_grad and manual.backwards == 0:
            raise StageError(
                "manual optimization: the step returned a loss that still has a graph, but "
                "called manual.backward(...) not once: the engine does no backward pass in "
                "manual mode. Call manual.backward(loss) and manual.step(i) in manual_step, "
                "or return loss.detach() if it is only for logging"
            )
        state.micro_step += 1
        if plan.on_backward is not None:
            plan.on_backward(state, result)
        if state.ends_window and manual.stepped:
            if state.grad_scaler is not None:
                state.grad_scaler.update()  # once per window, after every optimizer stepped
            _count_step(engine)
        if plan.on_end is not None:
            plan.on_end(state, batch, result)
    except BaseException as error:
        plugins.note_raised(error, STEP_HOOKS)
        raise
    finally:
        manual.live = False
        del state.stash[MANUAL]
    _finish(engine, evals)
    return result


# ------------------------------------------------------------------ shared


def _step_one(state: State, plan: StepPlan, optimizer: Any, index: int) -> None:
    """One optimizer's step between its two events, then its gradients are cleared."""
    if plan.on_before is not None:
        plan.on_before(state, optimizer, index)
    if plan.optimizer_step is not None:
        plan.optimizer_step(state, optimizer, index)
    if plan.on_after is not None:
        plan.on_after(state, optimizer, index)
    clear_gradients(optimizer)


def _count_step(engine: Running) -> None:
    """The window's optimizer step is done: count it, step the schedulers, check the time."""
    state = engine.state
    state.global_step += 1
    if state.schedulers:
        step_schedulers(state.schedulers, "step", state.global_step, state.eval_metrics)
    deadline = engine.fit_deadline
    if deadline is not None and time.monotonic() >= deadline:
        state.request_stop("now", f"max_time={engine.config.max_time:g} s reached")


def _finish(engine: Running, evals: dict[str, Loader]) -> None:
    if engine.config.eval_every_steps is None:
        engine.state.batch_idx += 1
    else:
        finish_train_step(engine, evals)
