"""NaN / inf policy: stop before a non-finite loss or gradient reaches the weights.

``policy="raise"``: a :class:`~unitrain.errors.NonFiniteError` naming the epoch, batch index
and step is raised before the backward pass (loss) or before the optimizer step (gradients);
the weights stay those of the previous step. ``policy="skip"``: the optimizer step of that
accumulation window is skipped (its gradients are discarded), and the skip is counted in
``skipped`` and listed in ``skipped_at`` (both are checkpointed).

Finite gradients can still make a weight non-finite (a huge learning rate, an overflowing
optimizer state). ``check_weights`` (on by default) checks the parameters **after** each
optimizer step and raises (under either policy: the step cannot be undone) naming the first
parameter that holds NaN or inf; and while the guard is registered, no checkpoint of
non-finite weights is ever committed (``on_save_checkpoint`` refuses it), so
``resume="latest"`` always restarts from finite weights.

Cost: one host read per batch for the loss check, one per optimizer step for the gradient
check and one for the weight check (each a reduction on the device first). With a fp16
``GradScaler`` the gradient check is left to the scaler, which skips such steps itself.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import torch

from unitrain.errors import ConfigError, NonFiniteError
from unitrain.hooks.markers import hookimpl

if TYPE_CHECKING:
    from unitrain.core.result import StepResult
    from unitrain.core.state import State

__all__ = ["NanGuard"]

Policy = Literal["raise", "skip"]


class NanGuard:
    """Checks the loss and the gradients of every step for NaN / inf."""

    name = "nan_guard"

    def __init__(
        self,
        policy: Policy = "raise",
        *,
        check_loss: bool = True,
        check_grads: bool = True,
        check_weights: bool = True,
    ) -> None:
        if policy not in ("raise", "skip"):
            raise ConfigError(f"NanGuard(policy={policy!r}): expected 'raise' or 'skip'")
        self.policy = policy
        self.check_loss, self.check_grads = check_loss, check_grads
        self.check_weights = check_weights
        self.skipped = 0
        self.skipped_at: list[dict[str, Any]] = []
        self._skip_window = False

    def state_dict(self) -> dict[str, Any]:
        """The skip count and positions."""
        return {"skipped": self.skipped, "skipped_at": list(self.skipped_at)}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Restore the skip count and positions."""
        self.skipped = int(saved["skipped"])
        self.skipped_at = list(saved["skipped_at"])

    @hookimpl(tryfirst=True)
    def run_backward(self, state: State, result: StepResult) -> bool | None:
        if self._skip_window or not self.check_loss or result.loss is None:
            return True if self._skip_window else None
        loss = result.loss.detach()
        if bool(torch.isfinite(loss).all()):
            return None
        value = loss.float().sum().item() if loss.numel() else math.nan
        self._non_finite(state, f"the loss is {value}")
        return True  # policy "skip": no backward for this batch; the window's step is skipped

    def on_before_optimizer_step(self, state: State, optimizer: torch.optim.Optimizer) -> None:
        if self._skip_window or not self.check_grads or state.grad_scaler is not None:
            return
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if grads and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):
            self._non_finite(state, "a gradient holds NaN or inf")

    def on_after_optimizer_step(self, state: State, optimizer: torch.optim.Optimizer) -> None:
        if self._skip_window or not self.check_weights:
            return
        params = [p for g in optimizer.param_groups for p in g["params"]]
        if not params or bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            return
        raise NonFiniteError(
            f"the optimizer step at epoch {state.epoch}, batch_idx {state.batch_idx} "
            f"(global_step {state.global_step}) made weight {self._first_bad(state)} NaN or "
            "inf, although the loss and gradients were finite. The step cannot be undone; no "
            "checkpoint of these weights is committed, so resume='latest' restarts from the "
            "last finite one. Lower the learning rate, clip gradients, or check the optimizer"
        )

    def on_save_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        if not self.check_weights:
            return
        model = checkpoint.get("model")
        if not isinstance(model, dict):
            return
        bad = [
            k
            for k, v in model.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()
        ]
        if bad:
            raise NonFiniteError(
                f"refusing to commit a checkpoint at global_step {state.global_step}: weight "
                f"{bad[0]} holds NaN or inf ({len(bad)} tensor(s) in all). The checkpoints "
                "already committed are kept; resume from the last one"
            )

    def _first_bad(self, state: State) -> str:
        if state.model is not None:
            for name, p in state.model.named_parameters():
                if not bool(torch.isfinite(p).all()):
                    return repr(name)
        return "(unnamed)"

    @hookimpl(tryfirst=True)
    def run_optimizer_step(self, state: State) -> bool | None:
        return True if self._skip_window else None  # True: "handled", i.e. not stepped

    def on_train_step_end(self, state: State) -> None:
        if state.ends_window:
            self._skip_window = False

    def _non_finite(self, state: State, what: str) -> None:
        where = {
            "epoch": state.epoch,
            "batch_idx": state.batch_idx,
            "global_step": state.global_step,
            "micro_step": state.micro_step,
        }
        if self.policy == "raise":
            raise NonFiniteError(
                f"{what} at epoch {state.epoch}, batch_idx {state.batch_idx} (global_step "
                f"{state.global_step}); the optimizer step was not taken, the weights are those "
                "of the previous step. Lower the learning rate, clip gradients, check the batch "
                "for bad values, or use NanGuard(policy='skip') to skip such steps"
            )
        if not self._skip_window:
            self.skipped += 1
            self.skipped_at.append(where)
        self._skip_window = True
