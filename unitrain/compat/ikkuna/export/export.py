"""ikkuna's ``Exporter``: publishes a hand-written training loop's data to a message bus.

Differences from ikkuna, all deliberate: nothing is monkeypatched (a forward pre-hook on
the model opens each training step, so DDP wrapping and pickling keep working); gradients
come from tensor hooks and post-accumulate-grad hooks, not ``register_backward_hook``;
``batch_finished`` and the step's ``weight_updates`` are published when the optimizer step
of their own batch ends (ikkuna published them one batch late and never for the last
batch); every epoch starts at ``train_step`` 0; weights are not cloned every step (update
buffers are reused and only for subscribed kinds). Only training forwards (train mode, grad
enabled) are recorded; evaluation passes publish nothing, so ikkuna's ``should_train`` /
``tag`` forward arguments are not needed (tags remain available to code that publishes on
the bus itself). Call :meth:`close` to remove every hook (also done when the exporter is
garbage collected).

Module names are ikkuna's (:class:`~unitrain.compat.ikkuna.utils.ModuleTree`):
``add_modules(model)`` names ``/features/conv2d0``, ``/classifier/linear0``, ...;
``module_filter`` keeps modules of exactly those classes, as in ikkuna. Where ikkuna gave a
module the empty name (a leaf registered inline with ``exporter(layer)``), its name in the
model's tree is used (``/0``-style indices renamed as above), or ``<class><n>`` outside it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import torch
import torch.optim.optimizer as optimizer_module

from unitrain.bus.kinds import MODULE_KINDS
from unitrain.bus.messages import ModuleKey
from unitrain.bus.subscribers.control import freeze_module
from unitrain.bus.taps import Taps, unwrap_model
from unitrain.compat.ikkuna.messages import MessageBus, get_default_bus
from unitrain.compat.ikkuna.utils.module_tree import ModuleTree
from unitrain.compat.ikkuna.utils.named_module import NamedModule
from unitrain.errors import ConfigError

__all__ = ["Exporter"]


class Exporter:
    """``Exporter(depth, module_filter=None, message_bus=None)``; see the module docstring.

    Wiring, as in ikkuna: ``add_modules(model)`` (or ``exporter(module)`` inline),
    ``set_model(model)``, ``set_loss(loss_fn)`` for labels / outputs / loss, and
    ``epoch_finished()`` at the end of each epoch.
    """

    def __init__(
        self,
        depth: int | None,
        module_filter: Iterable[type[torch.nn.Module]] | None = None,
        message_bus: MessageBus | None = None,
    ) -> None:
        self._depth = depth if depth is not None and depth > 0 else -1
        self._module_filter = None if module_filter is None else tuple(module_filter)
        self._bus = get_default_bus() if message_bus is None else message_bus
        self._bus.exporter = self  # subscribers that run the model themselves (SVCCA) read it
        self._modules: dict[torch.nn.Module, str | None] = {}
        self._model: torch.nn.Module | None = None
        self._taps: Taps | None = None
        self._taps_version = -1
        self._handles: list[Any] = []
        self._tracked: dict[int, bool] = {}
        self._tag = "default"
        self._global_step = 0
        self._train_step = 0
        self._epoch = 0
        self._step_open = False
        self._epoch_started = True
        self._finalizer = weakref.finalize(self, _remove_all, self._handles)

    # ------------------------------------------------------------ modules

    @property
    def message_bus(self) -> MessageBus:
        """The bus this exporter publishes to."""
        return self._bus

    @property
    def modules(self) -> list[torch.nn.Module]:
        """Every tracked module."""
        return list(self._modules)

    @property
    def named_modules(self) -> list[NamedModule]:
        """Every tracked module as a ``NamedModule(module, name)``."""
        return [NamedModule(module, key.name) for key, module in self._named()]

    def add_modules(self, module: Any, recursive: bool = True) -> None:
        """Track ``module`` (or ``(name, module)``), descending to ``depth`` when recursive."""
        if isinstance(module, tuple) and len(module) == 2 and isinstance(module[0], str):
            name, module = module
        else:
            name = type(module).__name__.lower()
        if not isinstance(module, torch.nn.Module):
            raise ValueError(
                f"Exporter.add_modules: expected an nn.Module or a (name, module) tuple, got "
                f"{type(module).__name__}"
            )
        tree = ModuleTree(module, name=name, recursive=recursive, drop_name=recursive)
        for child, child_name in tree.preorder(self._depth):
            if self._module_filter is None or type(child) in self._module_filter:
                assert child is not None
                self._modules.setdefault(child, child_name or None)

    def __call__(self, module: torch.nn.Module, recursive: bool = True) -> torch.nn.Module:
        """Track ``module`` and return it unchanged (for use inside model definitions)."""
        self.add_modules(module, recursive)
        return module

    def _named(self) -> list[tuple[ModuleKey, torch.nn.Module]]:
        found: dict[torch.nn.Module, str] = {}
        if self._model is not None:
            for module, name in ModuleTree(unwrap_model(self._model)).nodes():
                if module is not None and name:
                    found.setdefault(module, name)
        counts: dict[str, int] = {}
        named = []
        for module, given in self._modules.items():
            name = given or found.get(module) or ""
            if not name:  # ikkuna's automatic names: conv2d0, linear1 ...
                base = type(module).__name__.lower()
                name = f"{base}{counts.get(base, 0)}"
                counts[base] = counts.get(base, 0) + 1
            named.append((ModuleKey(name, module), module))
        return named

    # ------------------------------------------------------------ wiring

    def set_model(self, model: torch.nn.Module) -> None:
        """Watch ``model``: each training forward opens a step (no monkeypatching)."""
        self._model = model
        if not self._modules:
            self.add_modules(model)
        self._handles.append(model.register_forward_pre_hook(self._on_forward))
        ref = weakref.ref(self)

        def before_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            exporter = ref()
            if exporter is not None and exporter._owns(optimizer) and exporter._taps is not None:
                exporter._taps.snapshot()

        def after_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            exporter = ref()
            if exporter is not None and exporter._owns(optimizer):
                exporter._finish_step()

        self._handles.append(optimizer_module.register_optimizer_step_pre_hook(before_step))
        self._handles.append(optimizer_module.register_optimizer_step_post_hook(after_step))

    def set_loss(self, loss_function: torch.nn.Module) -> None:
        """Read outputs, labels and the loss from ``loss_function(output, labels)``."""
        if not isinstance(loss_function, torch.nn.Module):
            raise ConfigError(
                "Exporter.set_loss: expected a loss module such as nn.CrossEntropyLoss(), got "
                f"{type(loss_function).__name__}; or call new_output_and_labels yourself"
            )
        self._handles.append(loss_function.register_forward_hook(self._on_loss))

    def close(self) -> None:
        """Remove every hook this exporter installed."""
        if self._taps is not None:
            self._taps.remove()
            self._taps = None
        _remove_all(self._handles)

    # ------------------------------------------------------------ step lifecycle

    def _owns(self, optimizer: torch.optim.Optimizer) -> bool:
        known = self._tracked.get(id(optimizer))
        if known is None:
            mine = {id(p) for module in self._modules for p in module.parameters()}
            params = (p for group in optimizer.param_groups for p in group["params"])
            known = self._tracked[id(optimizer)] = any(id(p) in mine for p in params)
        return known

    def _on_forward(self, model: torch.nn.Module, args: Any) -> None:
        if not (model.training and torch.is_grad_enabled()):
            return
        if self._step_open:
            self._finish_step()  # no optimizer step was seen: end the previous step here
        self._ensure_taps()
        bus, step = self._bus, (self._global_step, self._train_step, self._epoch)
        if self._epoch_started:
            self._epoch_started = False
            bus.publish_network_message(*step, "epoch_started", self._epoch, self._tag)
        bus.publish_network_message(*step, "batch_started", None, self._tag)
        self._step_open = True
        self.new_input_data(*args)
        if self._taps is not None:
            self._taps.recording = True

    def new_input_data(self, *args: Any) -> None:
        """Publish the network's training input (called for each training forward)."""
        if self._step_open and "input_data" in self._bus.wanted_kinds():
            data = args[0] if len(args) == 1 else args
            data = data.detach() if isinstance(data, torch.Tensor) else data
            step = (self._global_step, self._train_step, self._epoch)
            self._bus.publish_network_message(*step, "input_data", data, self._tag)

    def new_output_and_labels(self, network_output: Any, labels: Any) -> None:
        """Publish the network's output and the labels of the open step."""
        if not self._step_open:
            return
        step = (self._global_step, self._train_step, self._epoch)
        for kind, data in (("network_output", network_output), ("input_labels", labels)):
            data = data.detach() if isinstance(data, torch.Tensor) else data
            self._bus.publish_network_message(*step, kind, data, self._tag)

    def _on_loss(self, module: torch.nn.Module, inputs: Any, loss: Any) -> None:
        if not self._step_open or not torch.is_grad_enabled():
            return
        if len(inputs) >= 2:
            self.new_output_and_labels(inputs[0], inputs[1])
        step = (self._global_step, self._train_step, self._epoch)
        data = loss.detach() if isinstance(loss, torch.Tensor) else loss
        self._bus.publish_network_message(*step, "loss", data, self._tag)

    def _ensure_taps(self) -> None:
        bus = self._bus
        if self._taps is not None and self._taps_version == bus.version:
            return
        if self._taps is not None:
            self._taps.remove()
        self._taps = None
        self._taps_version = bus.version
        kinds = bus.wanted_kinds() & MODULE_KINDS
        if kinds and self._modules:
            self._taps = Taps(self._named(), kinds, self._model)
            self._taps.install()

    def _finish_step(self) -> None:
        if not self._step_open:
            return
        self._step_open = False
        step = (self._global_step, self._train_step, self._epoch)
        if self._taps is not None:
            self._taps.recording = False
            self._taps.collect(self._bus.open_step(*step))
        self._bus.publish_network_message(*step, "batch_finished", None, self._tag)
        self._bus.flush()
        self._global_step += 1
        self._train_step += 1

    def epoch_finished(self) -> None:
        """Close the epoch: publish ``epoch_finished``; the next epoch starts at train_step 0."""
        self._finish_step()
        step = (max(self._global_step - 1, 0), max(self._train_step - 1, 0), self._epoch)
        self._bus.publish_network_message(*step, "epoch_finished", self._epoch, self._tag)
        self._bus.flush()
        self._epoch += 1
        self._train_step = 0
        self._epoch_started = True

    # ------------------------------------------------------------ modes and control

    def train(self, train: bool = True) -> None:
        """Put the model in training (or eval) mode."""
        if self._model is not None:
            self._model.train(train)

    def test(self) -> None:
        """Put the model in eval mode: its forwards open no step and publish nothing."""
        if self._model is not None:
            self._model.eval()

    def freeze_module(self, module: torch.nn.Module) -> None:
        """Stop training ``module``: its parameters get ``requires_grad=False``."""
        freeze_module(module)


def _remove_all(handles: list[Any]) -> None:
    for handle in handles:
        handle.remove()
    handles.clear()
