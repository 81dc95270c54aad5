"""The hook specification: every hook unitrain fires, in lifecycle order.

This file is the contract between the engine and every plugin, whatever style it was
written in. Nothing fires that is not declared here.

Two kinds of hook:

- **Events**: broadcast to every implementation in the one order, return nothing. A scope
  (fit, epoch, train_step, eval, eval_step, predict, predict_step) opens with
  ``on_<scope>_start`` and closes with ``on_<scope>_end``; ``on_train_batches_end`` closes
  the epoch's batches (the stage ``make_epoch_batches`` opens them). One action is framed by
  ``on_before_<action>`` / ``on_after_<action>`` (the optimizer step, the backward pass) or
  by ``on_before_<action>`` / ``on_<action>`` (saving and loading a checkpoint);
  ``on_exception`` and ``on_bus_bundles`` stand alone.
- **Stages** (``run_<step>``, ``make_<thing>``): ``firstresult`` hooks, the replaceable steps of
  the meta-algorithm. The task supplies the default implementation (registered *last*;
  ``make_epoch_batches`` has none: without an answer the loop draws the batches as they
  are); any plugin may replace it by returning a non-``None`` result, and a
  ``wrapper=True`` implementation may put context (autocast, ``no_grad``, timers) around it.

The one order, for every hook and every style: wrappers outermost, then ascending integer
``order`` (default 0), ties in registration order; ``tryfirst`` / ``trylast`` move an
implementation before / after all others of its kind.

Each docstring says, in this order: when it fires, its arguments, what it may change, what
it returns, and whether wrappers suit it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from unitrain.hooks.markers import hookspec

if TYPE_CHECKING:
    from unitrain.bus.bundles import StepBundles
    from unitrain.core.result import StepResult
    from unitrain.core.schedule import ScheduledLR
    from unitrain.core.state import State

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

        Fires once per optimizer right after ``make_optimizer``, with that ``optimizer`` and
        its index ``optimizer_idx``. May change nothing. A plain scheduler is stepped once
        per epoch (the engine steps it after the epoch's evaluation, before
        ``on_epoch_end``); return a :class:`~unitrain.core.schedule.ScheduledLR` to step it
        after every N optimizer steps (before ``on_train_step_end``) or on a monitored
        metric (see :mod:`unitrain.core.schedule`). Returns the scheduler or
        ``None`` for none (first non-``None`` wins). Wrappers: not useful.
        """

    # ------------------------------------------------------------------ fit

    @hookspec
    def on_fit_start(self, state: State) -> None:
        """The fit begins.

        Fires once per ``fit``, after model, optimizers and schedulers are set up and
        before the first epoch. ``state.phase == "fit"``. Plugins may set up their own
        resources and set ``state.grad_scaler``. Returns nothing. Wrappers: not useful
        (events return nothing).
        """

    @hookspec(firstresult=True)
    def make_epoch_batches(
        self, state: State, loader: object, batches: Iterable[Any]
    ) -> Iterable[Any] | None:
        """Stage: the batches the coming training epoch draws from.

        Fires once per training epoch, before ``on_epoch_start``: ``state.epoch``,
        ``state.epoch_length`` are set and ``state.batch_idx == 0``. ``loader`` is the
        training data as given to ``fit`` (a ``DataLoader`` or any iterable: read its
        sampler or generators from it), ``batches`` the iterable the loop would draw from
        (``limit_train_batches`` applied). The loop iterates the result only after
        ``on_epoch_start``, so return a lazy iterable (a generator), not an iterator already
        started. May restore random states and, to continue an interrupted epoch, set
        ``state.batch_idx`` to the number of batches it leaves out (exact resume does: see
        :mod:`unitrain.runs.replay`). Returns the iterable to draw from, or ``None`` for
        ``batches`` itself (first non-``None`` wins). Wrappers suit it: a wrapper receives
        the inner result (``None`` when no implementation answered) and may return an
        iterable that wraps it or ``batches``.
        """

    @hookspec
    def on_epoch_start(self, state: State) -> None:
        """A training epoch begins.

        Fires before the first batch of epoch ``state.epoch`` is drawn;
        ``state.epoch_length`` holds the number of batches when known. The model is in
        train mode. Plugins may change their own data only. Returns nothing. Wrappers: not
        useful.
        """

    @hookspec
    def on_train_step_start(self, state: State, batch: Any) -> None:
        """A training step begins, for batch ``state.batch_idx`` of the epoch.

        Fires before ``run_prepare_batch``; ``batch`` is the batch as the loader gave it
        (not yet on the device). ``state.accumulation_window`` and ``state.ends_window``
        say whether this step will end with an optimizer step. Must not mutate the batch.
        Returns nothing. Wrappers: not useful (wrap ``run_forward`` to time the step).
        """

    @hookspec(firstresult=True)
    def run_prepare_batch(self, state: State, batch: Any) -> Any:
        """Stage: make a loader batch ready for the model (move it to ``state.device``).

        Fires for every batch of every train, eval and predict pass; ``batch`` is as the
        loader gave it. May return a new batch or move ``batch`` in place; must not change
        its values. Returns the prepared batch (first non-``None`` wins). Wrappers suit it
        (e.g. a timer).
        """

    @hookspec(firstresult=True)
    def run_forward(self, state: State, batch: Any) -> StepResult | None:
        """Stage: forward pass and losses of one training batch.

        Fires once per training batch, in train mode with grad enabled; ``batch`` is the
        prepared batch. May fill a minibatch in place; must not step the optimizer. Returns a
        :class:`~unitrain.core.result.StepResult` whose ``loss`` is the total to
        backpropagate (first non-``None`` wins). Wrappers suit it (autocast).
        With one loss per optimizer (``state.optimization == "per_optimizer"``) it fires once
        per optimizer, in order, with ``state.optimizer_idx`` set and only that optimizer's
        parameters requiring grad, and returns that optimizer's loss; under manual
        optimization the task's ``manual_step`` runs inside it (see docs/optimizers.md).
        """

    @hookspec(firstresult=True)
    def run_backward(self, state: State, result: StepResult) -> bool | None:
        """Stage: backpropagate ``result.loss``.

        Fires once per training batch after ``run_forward``; ``result`` is what it returned.
        The default divides the loss by ``state.accumulation_window`` when accumulating.
        May change gradients; must not step the optimizer. Return ``True`` when you did the
        backward pass (first non-``None`` wins). Wrappers suit it. Per optimizer: once per
        optimizer's loss (``state.optimizer_idx`` set); manual: once per
        ``manual.backward(loss)`` the task calls.
        """

    @hookspec
    def on_after_backward(self, state: State, result: StepResult) -> None:
        """The backward pass of one batch is done; gradients hold this micro-step's share.

        Fires after ``run_backward`` and after ``state.micro_step`` is incremented, with the
        step's ``result``. Under
        accumulation the gradients are not complete until ``state.ends_window``. Plugins
        may read gradients; they must not step the optimizer. Returns nothing. Wrappers: not
        useful. Per optimizer: after each optimizer's backward (``state.optimizer_idx`` set;
        ``micro_step`` counts the micro-step from the first); manual: once, after the task's
        ``manual_step`` (its optimizers may have stepped already).
        """

    @hookspec
    def on_before_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> None:
        """Gradients for one optimizer are complete and about to be applied.

        Fires at the end of each accumulation window, once per ``optimizer`` (its index is
        ``optimizer_idx``), before ``run_optimizer_step``. The place to unscale
        (``state.grad_scaler``), clip or inspect gradients. Plugins may change gradients in
        place. Returns nothing. Wrappers: not useful. Per optimizer: right after that
        optimizer's own backward, before the next optimizer's loss is computed; manual: on
        the task's ``manual.step(i)`` at a window's end.
        """

    @hookspec(firstresult=True)
    def run_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> bool | None:
        """Stage: apply one optimizer's step.

        Fires once per ``optimizer`` (index ``optimizer_idx``) at the end of each
        accumulation window. May change the weights through ``optimizer`` only; the engine
        zeroes the gradients afterwards. Return ``True`` when you handled the step (first
        non-``None`` wins). Wrappers suit it.
        """

    @hookspec
    def on_after_optimizer_step(
        self, state: State, optimizer: torch.optim.Optimizer, optimizer_idx: int
    ) -> None:
        """One optimizer has stepped; its gradients are not yet zeroed.

        Fires after ``run_optimizer_step`` of ``optimizer`` (index ``optimizer_idx``);
        ``state.global_step`` is incremented after the last optimizer of the window. Plugins
        may read the new weights. Returns nothing. Wrappers: not useful.
        """

    @hookspec
    def on_train_step_end(self, state: State, batch: Any, result: StepResult) -> None:
        """A training step is done.

        Fires after backward (and the optimizer step when the window ended);
        ``state.global_step`` already counts that step and the schedulers of interval
        ``"step"`` due at it have stepped, ``state.batch_idx`` is still this
        batch's index. ``batch`` is the prepared batch and ``result`` the forward stage's
        result; ``result.loss`` is a device tensor: reading its value forces a host sync, so
        read it only when you need it. Plugins may request a stop; they must not mutate
        ``batch`` or ``result``. Returns nothing. Wrappers: not useful.
        """

    @hookspec
    def on_train_batches_end(self, state: State, exhausted: bool) -> None:
        """The training epoch draws no more batches.

        Fires once per training epoch, after its last ``on_train_step_end`` (or right after
        ``on_epoch_start`` when a stop ``"now"`` was asked there) and before the epoch's
        scheduled evaluation. ``exhausted`` is ``True`` when the batches ran out, ``False``
        when a stop request or ``max_steps`` cut the epoch short; ``state.batch_idx`` is
        the number of batches done. Plugins may record where the epoch stopped (exact
        resume continues a cut epoch from there). Returns nothing. Wrappers: not useful.
        """

    @hookspec
    def on_epoch_end(self, state: State) -> None:
        """A training epoch is done (also when it was cut short by a stop request).

        Fires after the epoch's last step, after its scheduled evaluation (so
        ``state.eval_metrics`` holds fresh values) and after the engine stepped the
        schedulers of interval ``"epoch"``; ``state.epoch`` is still the ending epoch.
        Plugins may request a stop. Returns nothing. Wrappers: not useful.
        """

    @hookspec
    def on_fit_end(self, state: State) -> None:
        """The fit finished without an exception (normal end or stop request).

        Fires once, after the last ``on_epoch_end``. Plugins may release their resources and
        write final results. Returns nothing. Wrappers: not useful.
        """

    # ------------------------------------------------------------------ evaluation

    @hookspec
    def on_eval_start(self, state: State, split: str) -> None:
        """An evaluation pass over ``split`` begins.

        Fires inside ``fit`` (every N epochs or steps, once per split) and from
        ``Trainer.evaluate``. The model is in eval mode and grad is disabled;
        ``state.phase == "eval"`` and ``state.split == split``. Plugins may reset their own
        per-pass data; they must not change the model. Returns nothing. Wrappers: not useful.
        """

    @hookspec
    def on_eval_step_start(self, state: State, split: str, batch: Any) -> None:
        """An evaluation step begins, for batch ``state.batch_idx`` of the pass.

        Fires before ``run_prepare_batch`` in the pass over ``split``; ``batch`` is as the
        loader gave it. Must not mutate it. Returns nothing. Wrappers: not useful.
        """

    @hookspec(firstresult=True)
    def run_eval_step(self, state: State, batch: Any) -> StepResult | None:
        """Stage: forward pass, losses and metrics of one evaluation batch.

        Fires once per eval batch, under ``torch.no_grad``; ``batch`` is the prepared batch.
        May fill a minibatch in place; must not change the model. Returns a StepResult whose
        ``losses`` and ``metrics`` are averaged over the pass, weighted by
        ``result.batch_size`` (first non-``None`` wins). Wrappers suit it (autocast).
        """

    @hookspec
    def on_eval_step_end(self, state: State, split: str, batch: Any, result: StepResult) -> None:
        """An evaluation step is done; ``batch`` is the prepared batch.

        Fires in the pass over ``split`` after the step's ``result`` has been added to the
        pass's averages. Plugins may read both; they must not mutate them. Returns nothing.
        Wrappers: not useful.
        """

    @hookspec
    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        """An evaluation pass is done; ``metrics`` holds its averaged values.

        Fires once per pass over ``split``. ``metrics`` is also stored as
        ``state.eval_metrics[split]``.
        A plugin with a lower order (or ``tryfirst``) may add its own entries, e.g. dataset
        metrics; later plugins (loggers, early stopping, schedulers) see them. Returns
        nothing. Wrappers: not useful.
        """

    # ------------------------------------------------------------------ prediction

    @hookspec
    def on_predict_start(self, state: State) -> None:
        """A prediction pass begins.

        Fires once per ``Trainer.predict``, before its first batch; the model is in eval
        mode and grad is disabled, ``state.phase == "predict"``. Plugins may set up their
        own per-pass data. Returns nothing. Wrappers: not useful.
        """

    @hookspec
    def on_predict_step_start(self, state: State, batch: Any) -> None:
        """A prediction step begins, for batch ``state.batch_idx`` of the pass.

        Fires before ``run_prepare_batch``; ``batch`` is as the loader gave it. Must not
        mutate it. Returns nothing. Wrappers: not useful.
        """

    @hookspec(firstresult=True)
    def run_predict_step(self, state: State, batch: Any) -> Any:
        """Stage: compute the predictions of one batch.

        Fires once per batch of a prediction pass, under ``torch.no_grad``; ``batch`` is the
        prepared batch. Must not change the model. Returns the
        predictions (first non-``None`` wins). Wrappers suit it (autocast).
        """

    @hookspec
    def on_predict_step_end(self, state: State, batch: Any, output: Any) -> None:
        """A prediction step is done; ``output`` is what ``run_predict_step`` returned.

        Fires after each ``run_predict_step``; ``batch`` is the prepared batch. Plugins may
        read the output; they must not mutate it. Returns nothing. Wrappers: not useful.
        """

    @hookspec
    def on_predict_end(self, state: State) -> None:
        """A prediction pass is done.

        Fires once, after the last ``on_predict_step_end``. Plugins may release their
        per-pass data. Returns nothing. Wrappers: not useful.
        """

    # ------------------------------------------------------------------ checkpoints

    @hookspec
    def on_before_save_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        """A checkpoint is about to be assembled (``Trainer.state_dict``); ``on_save_checkpoint``
        follows once it is.

        Fires first, before any ``state_dict`` of the model, optimizers or plugins is taken
        (those may draw random numbers): the place to capture random states. ``checkpoint``
        holds only ``{"plugins": {}}``; the engine adds ``model``, ``optimizers``,
        ``schedulers`` and ``position`` after this hook. Exact resume adds its top-level
        entries here (``data_order``, ``grads``, ``scaler``, ``config``, ``world_size``,
        ``plugins``: see :mod:`unitrain.runs.trainer_state`); other plugins add only
        ``checkpoint["plugins"][name]``, plain data and tensors. Returns nothing. Wrappers:
        not useful.
        """

    @hookspec
    def on_save_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        """A checkpoint is being assembled.

        Fires after the engine has put its own entries in ``checkpoint``. A plugin adds only
        keys under its own name (``checkpoint["plugins"][name]``) and only plain data and
        tensors, so the checkpoint loads with ``torch.load(weights_only=True)``; it must not
        change other entries. Returns nothing. Wrappers: not useful.
        """

    @hookspec
    def on_before_load_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        """A checkpoint is about to be loaded (``Trainer.load_state_dict``);
        ``on_load_checkpoint`` follows once it is.

        Fires before the engine restores anything from ``checkpoint``: a plugin that finds
        it unusable here (written by another number of processes, other settings) raises a
        :class:`~unitrain.errors.CheckpointError` and nothing is changed. Must not change
        the dict. Returns nothing. Wrappers: not useful.
        """

    @hookspec
    def on_load_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        """A checkpoint was loaded into the engine.

        Fires after the engine restored its own entries from ``checkpoint`` (the plugin
        that restores the checkpoint's random states, data order and plugin states runs
        first, ``tryfirst``). A plugin reads
        only its own keys and must not change the dict. Returns nothing. Wrappers: not
        useful.
        """

    # ------------------------------------------------------------------ errors

    @hookspec
    def on_exception(self, state: State, error: BaseException) -> None:
        """A hook or the loop raised; the error will propagate after this hook.

        Fires once per failing ``fit``, ``evaluate`` or ``predict``. Each implementation is
        called in isolation: if one raises, the others still run, and the failure is added
        as a note to ``error``. May add notes; must not swallow the error. Returns nothing.
        Wrappers: not applicable (each implementation is called on its own).
        """

    # ------------------------------------------------------------------ message bus

    @hookspec
    def on_bus_bundles(self, state: State, bundles: StepBundles) -> None:
        """The message bus delivers one training step's messages, all at once.

        Fires only when a :class:`~unitrain.bus.MessageBus` is attached
        (``unitrain.bus.attach(trainer, ...)``) and at least one plugin implements this
        hook: once per training step, after every other ``on_train_step_end``
        implementation (the bus's is ``trylast``), and once more at the end of each epoch
        carrying ``epoch_finished`` (and the updates of a short last window). ``bundles`` is
        a :class:`~unitrain.bus.StepBundles`: a sequence of
        :class:`~unitrain.bus.MessageBundle` (``"META"`` first, then one per tracked
        module), with ``bundles.messages(kind)`` for one kind across modules; every message
        carries ``global_step`` (training batches so far), ``train_step`` (batch in the
        epoch), ``epoch``, ``kind``, ``tag`` and ``module_name``. Tensors are detached, not
        copied, and stay on the device: reading a value is a host sync. Plugins may publish
        derived topics into ``bundles`` (subscribers do, through ``Subscriber.publish``);
        they must not change message data in place, nor keep tensors beyond the call
        without copying them (update buffers are reused). Returns nothing. Wrappers: not
        useful.
        """
