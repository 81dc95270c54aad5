"""Gradient callbacks: clipping by value or norm, statistics, distribution plots.

They set ``grad_cb_used`` at registration so the loop fires ``on_after_gradient_update``,
and act only on update iterations (the last batch of an accumulation window), on the
parameters of the optimizer whose step is next; under a grad scaler they unscale that
optimizer's gradients first (once, however many callbacks ask).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from unitrain.compat.aitoolbox.abstract import AbstractCallback, AbstractExperimentCallback
from unitrain.compat.aitoolbox.adapter import optimizer_params
from unitrain.errors import ConfigError

__all__ = [
    "GradDistributionPlot",
    "GradNormClip",
    "GradValueClip",
    "GradientCallbackBase",
    "GradientStatsPrint",
]


def unscale_once(scaler: Any, optimizer: torch.optim.Optimizer) -> None:
    """``scaler.unscale_(optimizer)`` unless it was already unscaled since the last update."""
    if scaler is None or not scaler.is_enabled():
        return
    # GradScaler raises when unscale_ is called twice for one optimizer in one step.
    stage = scaler._per_optimizer_states[id(optimizer)]["stage"]
    if stage.name == "READY":
        scaler.unscale_(optimizer)


class GradientCallbackBase(AbstractCallback):
    """Sets ``grad_cb_used``; ``optimizer_parameters(i)`` unscales and returns optimizer i's."""

    def on_train_loop_registration(self) -> None:
        self.train_loop_obj.grad_cb_used = True

    def optimizer_parameters(self, optimizer_idx: int) -> list[torch.Tensor]:
        """The parameters of optimizer ``optimizer_idx``, with true (unscaled) gradients."""
        loop = self.train_loop_obj
        optimizer = loop.optimizers()[optimizer_idx]
        unscale_once(loop.amp_scaler, optimizer)
        return optimizer_params(optimizer)


class GradValueClip(GradientCallbackBase):
    """Clamp every gradient element to ``[-max_grad_value, max_grad_value]``."""

    def __init__(self, max_grad_value: float) -> None:
        super().__init__("Gradient value clipping")
        if not max_grad_value > 0:
            raise ConfigError(f"GradValueClip(max_grad_value={max_grad_value!r}): must be > 0")
        self.max_grad_value = max_grad_value

    def on_after_gradient_update(self, optimizer_idx: int) -> None:
        if self.train_loop_obj.should_execute_optimizer_update():
            nn.utils.clip_grad_value_(self.optimizer_parameters(optimizer_idx), self.max_grad_value)


class GradNormClip(GradientCallbackBase):
    """Rescale gradients so their total norm is at most ``max_grad_norm``.

    Extra keyword arguments go to ``torch.nn.utils.clip_grad_norm_`` (e.g. ``norm_type``).
    """

    def __init__(self, max_grad_norm: float, **kwargs: Any) -> None:
        super().__init__("Gradient norm clipping")
        if not max_grad_norm > 0:
            raise ConfigError(f"GradNormClip(max_grad_norm={max_grad_norm!r}): must be > 0")
        self.max_grad_norm = max_grad_norm
        self.kwargs = kwargs

    def on_after_gradient_update(self, optimizer_idx: int) -> None:
        if self.train_loop_obj.should_execute_optimizer_update():
            nn.utils.clip_grad_norm_(
                self.optimizer_parameters(optimizer_idx), self.max_grad_norm, **self.kwargs
            )


LayersDef = Callable[[nn.Module], list[nn.Module]]


def _default_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]


class GradientStatsPrint(GradientCallbackBase):
    """Every ``stats_eval_freq`` updates print each layer's gradient mean, std and zero share.

    ``model_layers_extract_def(model)`` lists the layers (default: every module with
    parameters of its own). The values are also kept in ``last_stats``.
    """

    def __init__(
        self, model_layers_extract_def: LayersDef | None = None, stats_eval_freq: int = 1
    ) -> None:
        super().__init__("Print model gradient stats", device_idx_execution=0)
        if stats_eval_freq < 1:
            raise ConfigError(f"GradientStatsPrint(stats_eval_freq={stats_eval_freq}): >= 1")
        self.model_layers_extract_def = model_layers_extract_def or _default_layers
        self.stats_eval_freq = stats_eval_freq
        self.last_stats: list[dict[str, float]] = []
        self.updates = 0

    def on_after_gradient_update(self, optimizer_idx: int) -> None:
        loop = self.train_loop_obj
        if not loop.should_execute_optimizer_update() or optimizer_idx != 0:
            return
        self.updates += 1
        if (self.updates - 1) % self.stats_eval_freq:
            return
        for optimizer_index in range(len(loop.optimizers())):
            self.optimizer_parameters(optimizer_index)  # unscale before reading
        self.last_stats = []
        for index, layer in enumerate(self.model_layers_extract_def(loop.model)):
            grads = [p.grad.flatten() for p in layer.parameters() if p.grad is not None]
            if not grads:
                continue
            flat = torch.cat(grads).float()
            stats = {
                "mean": flat.mean().item(),
                "std": flat.std().item() if flat.numel() > 1 else 0.0,
                "zero_ratio": (flat == 0).float().mean().item(),
            }
            self.last_stats.append(stats)
            print(
                f"Layer {index} ({type(layer).__name__}) grad mean {stats['mean']:.4g}, "
                f"std {stats['std']:.4g}, zeros {stats['zero_ratio']:.2%}"
            )


class GradDistributionPlot(AbstractExperimentCallback):
    """At each epoch end plot each layer's gradient histogram into the experiment folder.

    Needs matplotlib (the ``plots`` extra); refused at construction when it is missing.
    """

    def __init__(
        self,
        model_layers_extract_def: LayersDef | None = None,
        grad_plots_dir_name: str = "grad_distribution",
        file_format: str = "png",
        project_name: str | None = None,
        experiment_name: str | None = None,
        local_model_result_folder_path: str | None = None,
        cloud_save_mode: str | None = None,
        bucket_name: str | None = None,
        cloud_dir_prefix: str | None = None,
    ) -> None:
        super().__init__(
            "Gradient distribution plotter",
            project_name,
            experiment_name,
            local_model_result_folder_path,
            cloud_save_mode,
            bucket_name,
            cloud_dir_prefix,
            device_idx_execution=0,
        )
        from unitrain.compat.aitoolbox.plotting import require_pyplot

        require_pyplot("GradDistributionPlot")
        if file_format not in ("png", "pdf"):
            raise ConfigError(f"GradDistributionPlot(file_format={file_format!r}): png or pdf")
        self.model_layers_extract_def = model_layers_extract_def or _default_layers
        self.grad_plots_dir_name = grad_plots_dir_name
        self.file_format = file_format
        self.saved_paths: list[str] = []
        self.epoch_grads: list[tuple[int, str, torch.Tensor]] = []

    def on_train_loop_registration(self) -> None:
        self.train_loop_obj.grad_cb_used = True
        self.try_infer_experiment_details(infer_cloud_details=True)

    def on_after_gradient_update(self, optimizer_idx: int) -> None:
        # The engine frees gradients after each step: keep the epoch's last ones for the plot.
        loop = self.train_loop_obj
        last = loop.iteration == loop.state.epoch_length - 1 if loop.state.epoch_length else False
        if not (last and loop.should_execute_optimizer_update() and optimizer_idx == 0):
            return
        self.epoch_grads = []
        for index, layer in enumerate(self.model_layers_extract_def(loop.model)):
            grads = [p.grad.flatten() for p in layer.parameters() if p.grad is not None]
            if grads:
                flat = torch.cat(grads).detach().float().cpu()
                self.epoch_grads.append((index, type(layer).__name__, flat))

    def on_epoch_end(self) -> None:
        from unitrain.compat.aitoolbox.experiment import experiment_dir, upload
        from unitrain.compat.aitoolbox.plotting import require_pyplot

        plt = require_pyplot("GradDistributionPlot")
        folder = os.path.join(
            experiment_dir(self), self.grad_plots_dir_name, f"epoch_{self.train_loop_obj.epoch}"
        )
        os.makedirs(folder, exist_ok=True)
        for index, kind, flat in self.epoch_grads:
            figure = plt.figure()
            plt.hist(flat.numpy(), bins=50)
            plt.title(f"layer {index} ({kind})")
            path = os.path.join(folder, f"layer_{index}.{self.file_format}")
            figure.savefig(path)
            plt.close(figure)
            self.saved_paths.append(path)
            upload(self, path)
