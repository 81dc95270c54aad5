"""Taps: the torch hooks that feed the bus, installed only for kinds somebody wants.

- ``activations``: a forward hook per module keeps a detached reference to its output (no
  copy). A module whose output is later changed in place (``ReLU(inplace=True)`` after a
  ``Linear``) would report the changed values, so the first recorded step clones every
  output and checks each module's tensor version; modules that were changed in place are
  cloned from then on, the others never.
- ``layer_gradients``: the same forward hook registers a *tensor* hook on the output
  (never a full backward hook, which breaks on in-place ops); it receives d loss / d output.
- ``weight_gradients`` / ``bias_gradients``: post-accumulate-grad hooks on the parameters
  keep a reference to ``param.grad``, read when the step is collected: after DDP's
  all-reduce, and after in-place changes made before the optimizer step (AMP unscaling,
  clipping). Under accumulation it is the gradient accumulated so far in the window.
- ``weights`` / ``biases``: no hook; the parameter is read when the step is collected.
- ``weight_updates`` / ``bias_updates``: before the optimizer step the parameters are copied
  into buffers that are reused every step, and after it each buffer is turned *in place*
  into the update (``after - before``, bit for bit the same as the subtraction): the copy
  is the update, no second one is kept, and only subscribed parameters are copied.
- On a compiled model (``Task(compile=...)``, ``torch.compile``) the parameter kinds work as
  above (the parameters and their gradients live outside the compiled graph); the two
  output kinds are refused when a tapped module runs inside compiled code
  (:func:`unitrain.tasks.compiling.run_compiled`), since its hooks would be traced into
  the graph instead of running each step.

A module called several times in one step reports its first call. *Output reducers*
(:meth:`Subscriber.output_reducers <unitrain.bus.Subscriber.output_reducers>`) get each
output as it is recorded, and its gradient as backward computes it; *step reducers*
(:meth:`Subscriber.step_reducers <unitrain.bus.Subscriber.step_reducers>`) get one kind's
tensors of every tapped module at once when the step is collected. Either kind of reducer
is served whether or not a message of its kind is published, and a kind that only reducers
want is recorded but never published (no message is made for it). Every handle is kept and
:meth:`Taps.remove` removes them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.nn.utils.parametrize import is_parametrized
from torch.utils.hooks import RemovableHandle

from unitrain.bus.bundles import StepBundles
from unitrain.bus.kinds import (
    GRADIENT_KINDS,
    MODULE_KIND_ORDER,
    MODULE_KINDS,
    MODULE_OUTPUT_KINDS,
    PARAMETER_KINDS,
    UPDATE_KINDS,
)
from unitrain.bus.messages import ModuleKey
from unitrain.errors import ConfigError
from unitrain.tasks.compiling import compiled_how, run_compiled

if TYPE_CHECKING:
    from unitrain.bus.subscriber import OutputReducer, StepReducer

__all__ = ["Taps", "is_compiled", "select_modules", "unwrap_model"]


def is_compiled(model: torch.nn.Module) -> bool:
    """True for a module returned by ``torch.compile``."""
    return compiled_how(model) == "torch.compile(module)"


def _refuse_compiled(
    model: torch.nn.Module, modules: list[tuple[ModuleKey, torch.nn.Module]], kinds: list[str]
) -> None:
    """A ConfigError when a module the bus would hook for ``kinds`` runs inside compiled code."""
    inside = run_compiled(model)
    hit = [(str(key), inside[module]) for key, module in modules if module in inside]
    if not hit:
        return
    ways = sorted({how for _, how in hit})
    names = [name for name, _ in hit]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    can = [kind for kind in MODULE_KIND_ORDER if kind not in MODULE_OUTPUT_KINDS]
    raise ConfigError(
        f"the bus cannot tap {kinds} of a compiled model: module(s) {shown} run inside code "
        f"compiled by {' / '.join(ways)}. These kinds are read by forward and tensor hooks, "
        "which TorchDynamo traces into the compiled code: the bus switching them on and off "
        "between steps makes it recompile, and the tensor hook splits the graph (3 steps of "
        "a 3-layer model made 6 graphs), so the model would no longer run as the compiled "
        "graph that was asked for. "
        f"Subscribe to kinds read from the parameters instead ({', '.join(can)}), or, to "
        f"record {' / '.join(kinds)}, train without compiling (drop Task(compile=...) / "
        "torch.compile) for that run"
    )


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The user's module inside DDP / DataParallel / ``torch.compile`` wrappers."""
    while True:
        if is_compiled(model):
            inner = model._orig_mod
            assert isinstance(inner, torch.nn.Module)
            model = inner
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel | torch.nn.DataParallel):
            model = model.module
        else:
            return model


def select_modules(
    model: torch.nn.Module,
    depth: int | None = None,
    classes: Iterable[type[torch.nn.Module]] | None = None,
) -> list[tuple[ModuleKey, torch.nn.Module]]:
    """The modules to tap, in ``named_modules`` order.

    ``depth=None`` takes every leaf module; ``depth=d`` takes the modules ``d`` levels below
    the root (``"features.0"`` is at depth 2) and the leaves above that depth. ``classes``
    keeps only instances of those classes. Wrappers (DDP, ``torch.compile``) are looked
    through, so names never carry their ``module.`` / ``_orig_mod.`` prefixes.
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ConfigError(f"bus depth must be an int >= 1 or None, got {depth!r}")
    wanted = tuple(classes) if classes is not None else None
    if wanted is not None and not all(
        isinstance(c, type) and issubclass(c, torch.nn.Module) for c in wanted
    ):
        raise ConfigError(f"bus module_filter must hold nn.Module classes, got {wanted!r}")
    root = unwrap_model(model)
    chosen: list[tuple[ModuleKey, torch.nn.Module]] = []
    inside: tuple[str, ...] = ()  # "<name>." of every parametrization container
    for name, module in root.named_modules():
        if inside and f"{name}.".startswith(inside):
            continue
        level = 0 if name == "" else name.count(".") + 1
        parametrized = is_parametrized(module)
        leaf = all(
            parametrized and child == _PARAMETRIZATIONS for child, _ in module.named_children()
        )
        if parametrized:
            # a parametrized layer (weight_norm ...) is the layer: its `parametrizations`
            # are the functions that compute its weight, not layers the data goes through
            inside += (f"{name}.{_PARAMETRIZATIONS}." if name else f"{_PARAMETRIZATIONS}.",)
        if level == 0 and not leaf:
            continue
        take = leaf if depth is None else (level == depth or (leaf and level < depth))
        if take and (wanted is None or isinstance(module, wanted)):
            chosen.append((ModuleKey(name or type(module).__name__.lower(), module), module))
    return chosen


_PARAMETRIZATIONS = "parametrizations"


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


def _attribute(module: torch.nn.Module, name: str) -> Any:
    # A registered parameter straight from its dict (nn.Module's __getattr__ is a Python
    # call per module per step); anything else (weight_norm, parametrizations, a plain
    # attribute) through getattr, so that what it computes is what is read.
    registered = module._parameters
    return registered[name] if name in registered else getattr(module, name, None)


class Taps:
    """Hooks on selected modules for a set of module kinds; collects one step at a time."""

    def __init__(
        self,
        modules: list[tuple[ModuleKey, torch.nn.Module]],
        kinds: Iterable[str],
        model: torch.nn.Module | None = None,
        reducers: Mapping[str, Sequence[OutputReducer]] | None = None,
        step_reducers: Mapping[str, Sequence[StepReducer]] | None = None,
    ) -> None:
        wanted = set(kinds) & MODULE_KINDS
        self.reducers = {kind: tuple(found) for kind, found in (reducers or {}).items() if found}
        self.step_reducers = {
            kind: tuple(found)
            for kind in MODULE_KIND_ORDER
            if (found := (step_reducers or {}).get(kind))
        }
        recorded = wanted | set(self.step_reducers)
        tapped = (recorded | set(self.reducers)) & MODULE_OUTPUT_KINDS
        if model is not None and tapped:
            _refuse_compiled(model, modules, sorted(tapped))
        self.kinds = [kind for kind in MODULE_KIND_ORDER if kind in wanted]
        """The kinds published as messages (the step reducers' kinds may be recorded only)."""
        self.modules = modules
        self.recording = False
        self.handles: list[RemovableHandle] = []
        n = len(modules)
        self._keys = [key for key, _ in modules]
        self._slots: dict[str, list[Any]] = {
            kind: [None] * n for kind in MODULE_KIND_ORDER if kind in recorded
        }
        self._holders: dict[str, list[tuple[int, torch.nn.Module]]] | None = None
        self._called = [False] * n
        self._probe = True
        self._clone: set[int] = set()
        self._live: list[tuple[torch.Tensor, int] | None] = [None] * n
        self._update_params: dict[str, list[tuple[int, torch.Tensor]]] = {}
        self._buffers: list[torch.Tensor] | None = None
        self._snapshotted = False

    # ------------------------------------------------------------ install / remove

    def install(self) -> None:
        """Register the hooks the kinds need (none for weights / updates), and find which
        modules hold the parameters the parameter kinds read (a parameter added to a module
        later is read from the next fit on, when the bus installs new taps)."""
        if self.handles:
            return
        want_output = bool(self.reducers) or any(k in MODULE_OUTPUT_KINDS for k in self._slots)
        self._holders = self._find_holders()
        for index, (_, module) in enumerate(self.modules):
            if want_output:
                self.handles.append(module.register_forward_hook(self._forward_hook(index)))
            for kind, attribute in GRADIENT_KINDS.items():
                param = getattr(module, attribute, None)
                if kind in self._slots and isinstance(param, torch.nn.Parameter):
                    hook = self._grad_hook(self._slots[kind], index)
                    self.handles.append(param.register_post_accumulate_grad_hook(hook))  # type: ignore[no-untyped-call]
            for kind, attribute in UPDATE_KINDS.items():
                param = getattr(module, attribute, None)
                if kind in self._slots and isinstance(param, torch.nn.Parameter):
                    self._update_params.setdefault(kind, []).append((index, param))

    def remove(self) -> None:
        """Remove every handle and drop every reference to step data."""
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        self._holders = None
        self.recording = False
        self._reset()
        self._buffers = None
        self._snapshotted = False

    def _find_holders(self) -> dict[str, list[tuple[int, torch.nn.Module]]]:
        # The modules that have the parameter a parameter kind reads, found when the taps are
        # installed rather than every step: asking a ReLU for its missing weight goes through
        # nn.Module.__getattr__ and the AttributeError it raises.
        return {
            kind: [
                (index, module)
                for index, (_, module) in enumerate(self.modules)
                if _attribute(module, attribute) is not None
            ]
            for kind, attribute in PARAMETER_KINDS.items()
            if kind in self._slots
        }

    # ------------------------------------------------------------ hooks

    def _forward_hook(self, index: int) -> Callable[..., None]:
        act = self._slots.get("activations")
        lgrad = self._slots.get("layer_gradients")
        reduce_act = self.reducers.get("activations", ())
        reduce_lgrad = self.reducers.get("layer_gradients", ())
        want_grad = lgrad is not None or bool(reduce_lgrad)
        key = self.modules[index][0]
        called, live, clone = self._called, self._live, self._clone

        def store_grad(grad: torch.Tensor) -> None:
            if lgrad is not None:
                lgrad[index] = grad
            for reduce in reduce_lgrad:
                reduce(index, key, grad)

        def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
            if not self.recording or called[index]:
                return
            called[index] = True
            tensor = _first_tensor(output)
            if tensor is None:
                return
            if reduce_act or act is not None:
                detached = tensor.detach()
            for reduce in reduce_act:  # now, while in cache and before any in-place change
                reduce(index, key, detached)
            if act is not None:
                data = detached
                if self._probe:
                    live[index] = (data, data._version)
                    data = data.clone()
                elif index in clone:
                    data = data.clone()
                else:
                    live[index] = (data, data._version)
                act[index] = data
            if want_grad and tensor.requires_grad:
                tensor.register_hook(store_grad)  # type: ignore[no-untyped-call]

        return hook

    def _grad_hook(self, slots: list[Any], index: int) -> Callable[[torch.Tensor], None]:
        def hook(param: torch.Tensor) -> None:
            if self.recording:
                slots[index] = param.grad

        return hook

    # ------------------------------------------------------------ updates

    def snapshot(self) -> None:
        """Copy the subscribed parameters before an optimizer step (reusing buffers)."""
        if not self._update_params or self._snapshotted:
            return
        # detached: no autograd record, so no torch.no_grad() is needed around the copies
        params = [p.detach() for pairs in self._update_params.values() for _, p in pairs]
        if self._buffers is None:
            self._buffers = [p.clone() for p in params]
        else:
            torch._foreach_copy_(self._buffers, params)
        self._snapshotted = True

    def _finish_updates(self) -> bool:
        if not self._snapshotted or self._buffers is None:
            return False
        params = [p.detach() for pairs in self._update_params.values() for _, p in pairs]
        if self._buffers[0].is_cuda:  # two fused launches for every tensor
            torch._foreach_sub_(self._buffers, params)  # before - after
            torch._foreach_neg_(self._buffers)  # after - before, in the same buffer
        else:  # one pass over memory instead of two (CPU foreach is a loop anyway)
            for buffer, param in zip(self._buffers, params, strict=True):
                torch.sub(param, buffer, out=buffer)  # after - before, in place
        buffers = iter(self._buffers)
        for kind, pairs in self._update_params.items():
            slots = self._slots[kind]
            for index, _ in pairs:
                slots[index] = next(buffers)
        self._snapshotted = False
        return True

    # ------------------------------------------------------------ collect

    def collect(self, bundles: StepBundles, parameters: bool = True) -> bool:
        """Publish what was recorded, finished updates and (with ``parameters``, or when an
        update finished) the parameter values, and hand each step reducer its kind; then
        reset. Returns whether a step reducer was called (it expects a delivery)."""
        updated = self._finish_updates()
        act = self._slots.get("activations")
        if act is not None:
            self._check_in_place(act)
        if parameters or updated:
            if self._holders is None:  # collected without install(): no hooks, same reads
                self._holders = self._find_holders()
            for kind, holders in self._holders.items():
                slots, attribute = self._slots[kind], PARAMETER_KINDS[kind]
                for index, module in holders:
                    param = _attribute(module, attribute)
                    if isinstance(param, torch.Tensor):
                        slots[index] = param.detach()
        keys = self._keys
        publish = bundles.publish
        for kind in self.kinds:
            for key, data in zip(keys, self._slots[kind], strict=True):
                if data is not None:
                    publish(kind, data, key)
        reduced = False
        for kind, reducers in self.step_reducers.items():
            slots = self._slots[kind]
            tensors = [data for data in slots if data is not None]
            if tensors:
                found = (
                    keys
                    if len(tensors) == len(keys)
                    else [key for key, data in zip(keys, slots, strict=True) if data is not None]
                )
                for reduce in reducers:
                    reduce(found, tensors)
                reduced = True
        self._reset()
        return reduced

    def _check_in_place(self, act: list[Any]) -> None:
        probing, self._probe = self._probe, False
        for index, pair in enumerate(self._live):
            if pair is None:
                continue
            tensor, version = pair
            if tensor._version != version:
                self._clone.add(index)
                if not probing:
                    act[index] = None  # changed in place before we could read it: drop
        if probing and not any(x is not None for x in act):
            self._probe = True  # nothing was recorded yet: probe again next step

    def _reset(self) -> None:
        for slots in self._slots.values():
            for index in range(len(slots)):
                slots[index] = None
        for index in range(len(self._called)):
            self._called[index] = False
            self._live[index] = None
