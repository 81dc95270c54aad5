"""The hook specification: every hook unitrain fires, in lifecycle order.

This file is the contract between the engine and every plugin, whatever style it was
written in. Nothing fires that is not declared here.

Two kinds of hook:

- **Events** (``on_<scope>_<start|end>`` and a few ``on_after_*`` / ``on_before_*``): broadcast
  to every implementation in the one order, return nothing.
- **Stages** (``run_<step>``, ``make_<thing>``): ``firstresult`` hooks, the replaceable steps of
  the meta-algorithm. The task supplies the default implementation (registered *last*); any
  plugin may replace it by returning a non-``None`` result, and a ``wrapper=True``
  implementation may put context (autocast, ``no_grad``, timers) around it.

The one order, for every hook and every style: wrappers outermost, then ascending integer
``order`` (default 0), ties in registration order; ``tryfirst`` / ``trylast`` move an
implementation before / after all others of its kind.

Each docstring says, in this order: when it fires, its arguments, what it may change, what
it returns, and whether wrappers suit it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from unitrain.hooks.markers import hookspec

if TYPE_CHECKING:
    from unitrain.core.result import StepResult
    from unitrain.core.state import State
    from unitrain.plugins.lr_scheduler import ScheduledLR

__all__ = ["Hooks"]


class Hooks:
    """Every hook of unitrain. Plugins implement any subset, by name."""

    # ------------------------------------------------------------------ providers

    @hookspec(firstresult=True)
    def make_optimizer(
        self, state: State, model: torch.nn.Module
    ) -> torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | None:
        """Make the optimizer(s) for ``model``.

        Fires once at the start of ``fit``, after the model is on its device and before
        ``on_fit_start``. Arguments: the state and the model being trained. May change
        nothing. Returns an optimizer or a sequence of them (first non-``None`` wins); the
        engine stores them in ``state.optimizers``. Wrappers: not useful.
        """

    @hookspec(firstresult=True)
    def make_scheduler(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> torch.optim.lr_scheduler.LRScheduler | ScheduledLR | None:
        """Make the learning-rate scheduler for one optimizer.

        Fires once per optimizer right after ``make_optimizer``. A plain scheduler is
        stepped once per epoch; return a :class:`~unitrain.plugins.lr_scheduler.ScheduledLR`
        to step per optimizer step or on a monitored metric. Returns the scheduler or
        ``None`` for none (first non-``None`` wins). Wrappers: not useful.
        """

    # ------------------------------------------------------------------ fit

    @hookspec
    def on_fit_start(self, state: State) -> None:
        """The fit begins.

        Fires once per ``fit``, after model, optimizers and schedulers are set up and
        before the first epoch. ``state.stage == "fit"``. Plugins may set up their own
        resources and set ``state.grad_scaler``. Returns nothing.
        """

    @hookspec
    def on_epoch_start(self, state: State) -> None:
        """A training epoch begins.

        Fires before the first batch of epoch ``state.epoch`` is drawn;
        ``state.epoch_length`` holds the number of batches when known. The model is in
        train mode. Plugins may change their own data only. Returns nothing.
        """

    @hookspec
    def on_train_step_start(self, state: State, batch: Any) -> None:
        """A training step begins, for batch ``state.batch_idx`` of the epoch.

        Fires before ``run_prepare_batch``; ``batch`` is the batch as the loader gave it
        (not yet on the device). ``state.accumulation_window`` and ``state.ends_window``
        say whether this step will end with an optimizer step. Must not mutate the batch.
        Returns nothing.
        """

    @hookspec(firstresult=True)
    def run_prepare_batch(self, state: State, batch: Any) -> Any:
        """Stage: make a loader batch ready for the model (move it to ``state.device``).

        Fires for every batch of every train, eval and predict pass. Returns the prepared
        batch (first non-``None`` wins). Wrappers suit it (e.g. a timer).
        """

    @hookspec(firstresult=True)
    def run_forward(self, state: State, batch: Any) -> StepResult | None:
        """Stage: forward pass and losses of one training batch.

        Fires once per training batch, in train mode with grad enabled. Returns a
        :class:`~unitrain.core.result.StepResult` whose ``loss`` is the total to
        backpropagate (first non-``None`` wins). Wrappers suit it (autocast).
        """

    @hookspec(firstresult=True)
    def run_backward(self, state: State, result: StepResult) -> bool | None:
        """Stage: backpropagate ``result.loss``.

        Fires once per training batch after ``run_forward``. The default divides the loss
        by ``state.accumulation_window`` when accumulating. Return ``True`` when you did the
        backward pass (first non-``None`` wins). Wrappers suit it.
        """

    @hookspec
    def on_after_backward(self, state: State, result: StepResult) -> None:
        """The backward pass of one batch is done; gradients hold this micro-step's share.

        Fires after ``run_backward`` and after ``state.micro_step`` is incremented. Under
        accumulation the gradients are not complete until ``state.ends_window``. Plugins
        may read gradients; they must not step the optimizer. Returns nothing.
        """

    @hookspec
    def on_before_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> None:
        """Gradients for one optimizer are complete and about to be applied.

        Fires at the end of each accumulation window, once per optimizer, before
        ``run_optimizer_step``. The place to unscale (``state.grad_scaler``), clip or
        inspect gradients. Plugins may change gradients in place. Returns nothing.
        """

    @hookspec(firstresult=True)
    def run_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> bool | None:
        """Stage: apply one optimizer's step.

        Fires once per optimizer at the end of each accumulation window. The engine zeroes
        the gradients afterwards. Return ``True`` when you handled the step (first
        non-``None`` wins). Wrappers suit it.
        """

    @hookspec
    def on_after_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> None:
        """One optimizer has stepped; its gradients are not yet zeroed.

        Fires after ``run_optimizer_step``; ``state.global_step`` is incremented after the
        last optimizer of the window. Plugins may read the new weights. Returns nothing.
        """

    @hookspec
    def on_train_step_end(self, state: State, batch: Any, result: StepResult) -> None:
        """A training step is done.

        Fires after backward (and the optimizer step when the window ended);
        ``state.global_step`` already counts that step, ``state.batch_idx`` is still this
        batch's index. ``batch`` is the prepared batch. ``result.loss`` is a device tensor:
        reading its value forces a host sync, so read it only when you need it. Plugins may
        request a stop. Returns nothing.
        """

    @hookspec
    def on_epoch_end(self, state: State) -> None:
        """A training epoch is done (also when it was cut short by a stop request).

        Fires after the epoch's last step and after its scheduled evaluation, so
        ``state.eval_metrics`` holds fresh values; ``state.epoch`` is still the ending
        epoch. Plugins may request a stop. Returns nothing.
        """

    @hookspec
    def on_fit_end(self, state: State) -> None:
        """The fit finished without an exception (normal end or stop request).

        Fires once, after the last ``on_epoch_end``. Plugins release their resources.
        Returns nothing.
        """

    # ------------------------------------------------------------------ evaluation

    @hookspec
    def on_eval_start(self, state: State, split: str) -> None:
        """An evaluation pass over ``split`` begins.

        Fires inside ``fit`` (every N epochs or steps, once per split) and from
        ``Trainer.evaluate``. The model is in eval mode and grad is disabled;
        ``state.stage == "eval"`` and ``state.split == split``. Returns nothing.
        """

    @hookspec
    def on_eval_step_start(self, state: State, split: str, batch: Any) -> None:
        """An evaluation step begins, for batch ``state.batch_idx`` of the pass.

        Fires before ``run_prepare_batch``; ``batch`` is as the loader gave it. Must not
        mutate it. Returns nothing.
        """

    @hookspec(firstresult=True)
    def run_eval_step(self, state: State, batch: Any) -> StepResult | None:
        """Stage: forward pass, losses and metrics of one evaluation batch.

        Fires once per eval batch, under ``torch.no_grad``. Returns a StepResult whose
        ``losses`` and ``metrics`` are averaged over the pass, weighted by
        ``result.batch_size`` (first non-``None`` wins). Wrappers suit it (autocast).
        """

    @hookspec
    def on_eval_step_end(self, state: State, split: str, batch: Any, result: StepResult) -> None:
        """An evaluation step is done; ``batch`` is the prepared batch.

        Fires after the step's result has been added to the pass's averages. Returns
        nothing.
        """

    @hookspec
    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        """An evaluation pass is done; ``metrics`` holds its averaged values.

        Fires once per pass. ``metrics`` is also stored as ``state.eval_metrics[split]``.
        A plugin with a lower order (or ``tryfirst``) may add its own entries, e.g. dataset
        metrics; later plugins (loggers, early stopping, schedulers) see them. Returns
        nothing.
        """

    # ------------------------------------------------------------------ prediction

    @hookspec
    def on_predict_start(self, state: State) -> None:
        """A prediction pass begins (``Trainer.predict``); eval mode, grad disabled."""

    @hookspec(firstresult=True)
    def run_predict_step(self, state: State, batch: Any) -> Any:
        """Stage: compute the predictions of one batch.

        Fires once per batch of a prediction pass, under ``torch.no_grad``. Returns the
        predictions (first non-``None`` wins). Wrappers suit it (autocast).
        """

    @hookspec
    def on_predict_step_end(self, state: State, batch: Any, output: Any) -> None:
        """A prediction step is done; ``output`` is what ``run_predict_step`` returned.

        Plugins may read the output; they must not mutate it. Returns nothing.
        """

    @hookspec
    def on_predict_end(self, state: State) -> None:
        """A prediction pass is done. Returns nothing."""

    # ------------------------------------------------------------------ checkpoints

    @hookspec
    def on_save_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        """A checkpoint is being assembled.

        Fires after the engine has put its own entries in ``checkpoint``. A plugin adds only
        keys under its own name (``checkpoint["plugins"][name]``) and only plain data and
        tensors, so the checkpoint loads with ``torch.load(weights_only=True)``. Returns
        nothing.
        """

    @hookspec
    def on_load_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        """A checkpoint was loaded into the engine.

        Fires after the engine restored its own entries. A plugin reads only its own keys.
        Returns nothing.
        """

    # ------------------------------------------------------------------ errors

    @hookspec
    def on_exception(self, state: State, error: BaseException) -> None:
        """A hook or the loop raised; the error will propagate after this hook.

        Fires once per failing ``fit``, ``evaluate`` or ``predict``. Each implementation is
        called in isolation: if one raises, the others still run, and the failure is added
        as a note to ``error``. Must not swallow the error. Returns nothing.
        """

    # ------------------------------------------------------------------ message bus

    @hookspec
    def on_bus_bundles(self, state: State, bundles: Sequence[Any]) -> None:
        """The message bus delivers one training step's bundles (one per module).

        Fires once per training step in which somebody subscribed, after
        ``on_train_step_end``. Plugins must not keep references to tensors beyond the
        call unless they copy them. Returns nothing.
        """
