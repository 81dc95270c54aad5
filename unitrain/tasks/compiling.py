"""``Task(model, compile=...)``: the model's ``forward`` compiled by ``torch.compile``, in place.

The module stays the user's module: only its ``forward`` is replaced, on the instance, by a
:class:`CompiledForward`. So ``task.model`` is the module that was passed in, its
``state_dict`` keys carry no ``_orig_mod.`` prefix (checkpoints load into an uncompiled
module and back), DDP wraps it as it would any module (its gradient hooks are on the
parameters, outside the compiled graph; FSDP2 with a compiled task was not tried), and a
step that calls ``self.model(x)`` anywhere (an overridden ``forward``, evaluation,
prediction, the user's own code after training) goes through the compiled code. A model
given already compiled (``Task(torch.compile(model))``) trains as before, with the
wrapper's ``_orig_mod.`` keys in its checkpoints; ``compile=`` is the way to keep them.

Why not ``nn.Module.compile()``, which also compiles in place: it compiles the module's
``__call__``, whose frame is in ``torch.nn`` and is skipped by TorchDynamo, so a model made
only of ``torch.nn`` modules (an ``nn.Sequential``) silently stays eager (torch 2.13:
nothing is captured). Why not ``torch.compile(model)``: it returns a wrapper whose
``state_dict`` keys all start with ``_orig_mod.``, and the task's model would no longer be
the module its checkpoints describe. Compiling the bound ``forward`` captures the whole
forward of any module, ``nn.Sequential`` included.

``torch.compile`` checks the options when the task is made; the code is compiled at the
first call, and again whenever torch's guards ask for it: the first evaluation
(``no_grad``) compiles an inference graph, and a batch of another shape can compile a
dynamic-shape one.

Only the model is compiled. The loss and the optimizer step could be compiled too (each
works on CPU), but on the benchmark CNN each made a step slower, not faster (see
``docs/performance.md``); a task that wants them compiled overrides its stages.

The root module's own hooks run outside the compiled code; the hooks of every module
below it are traced into the graph, which is why the bus refuses its module-output kinds
on such models (:func:`run_compiled`, :mod:`unitrain.bus.taps`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from unitrain.errors import ConfigError

__all__ = [
    "CompileOption",
    "CompiledForward",
    "check_compile_option",
    "compile_forward",
    "compiled_how",
    "run_compiled",
]

CompileOption = bool | Mapping[str, Any] | None
"""``Task(compile=...)``: ``False`` / ``None`` (off), ``True`` (``torch.compile``'s defaults)
or a mapping of ``torch.compile`` keyword arguments (``{"mode": "max-autotune"}``)."""


def _compile_keywords() -> list[str]:
    parameters = inspect.signature(torch.compile).parameters.values()
    return [p.name for p in parameters if p.kind is p.KEYWORD_ONLY]


def check_compile_option(value: object) -> dict[str, Any] | None:
    """The ``torch.compile`` keyword arguments ``compile=value`` asks for (``None``: off).

    Raises :class:`~unitrain.errors.ConfigError` for anything but a bool, ``None`` or a
    mapping of ``torch.compile``'s keyword arguments.
    """
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, Mapping):
        names = _compile_keywords()
        unknown = [key for key in value if key not in names]
        if unknown:
            raise ConfigError(
                f"Task(compile=...): unknown torch.compile option(s) {unknown}; "
                f"it takes {', '.join(names)}"
            )
        return dict(value)
    raise ConfigError(
        f"Task(compile=...): expected True, False or a dict of torch.compile keyword "
        f"arguments (e.g. {{'mode': 'max-autotune'}}), got {value!r} "
        f"({type(value).__name__})"
    )


class CompiledForward:
    """A module's ``forward``, compiled; set on the module instance by :func:`compile_forward`.

    Pickling (spawned ranks receive the task pickled) and ``copy.deepcopy`` keep the
    options, not the compiled code: the copy compiles its own ``forward`` on first call.
    """

    def __init__(
        self,
        module: nn.Module,
        options: Mapping[str, Any],
        original: Callable[..., Any] | None = None,
    ) -> None:
        self.module = module
        self.options = dict(options)
        self.original = original  # a forward set on the instance before; None: the class's
        forward = original if original is not None else type(module).forward.__get__(module)
        # a copy: torch.compile pops keys out of the `options` mapping it is given
        kwargs = {**self.options}
        if isinstance(kwargs.get("options"), Mapping):
            kwargs["options"] = dict(kwargs["options"])
        try:
            self.compiled: Callable[..., Any] = torch.compile(forward, **kwargs)
        except Exception as error:  # torch checks mode, backend and options here
            message = str(error)
            short = message if len(message) <= 300 else message[:300] + " ..."
            raise ConfigError(
                f"Task(compile={self.options!r}): torch.compile refused it: "
                f"{type(error).__name__}: {short}"
            ) from error

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.compiled(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (CompiledForward, (self.module, self.options, self.original))

    def __repr__(self) -> str:
        return f"CompiledForward({type(self.module).__name__}, {self.options!r})"


def compile_forward(model: nn.Module, options: Mapping[str, Any]) -> None:
    """Compile ``model.forward`` in place with ``torch.compile(**options)``.

    Refuses a model that is already compiled, wholly or in part (``torch.compile(model)``,
    ``module.compile()`` or this function on it or on one of its modules): compiling twice
    would nest one compiled region in another.
    """
    for name, module in model.named_modules():
        how = compiled_how(module)
        if how is not None:
            where = "the model" if name == "" else f"its module {name!r}"
            raise ConfigError(
                f"Task(compile=...): {where} ({type(module).__name__}) is already compiled "
                f"({how}); pass the plain module and let compile= compile it, so that its "
                "state_dict keys stay those of the module"
            )
    original = vars(model).get("forward")
    model.forward = CompiledForward(model, options, original)


OWN_HOOKS_OUTSIDE = ("Task(compile=...)", "module.forward = torch.compile(...)")
"""Ways of compiling that compile ``forward`` only: the module's own hooks stay eager."""


def compiled_how(module: nn.Module) -> str | None:
    """How ``module`` itself is compiled (``"torch.compile(module)"`` ...), or ``None``."""
    if type(module).__name__ == "OptimizedModule" and hasattr(module, "_orig_mod"):
        return "torch.compile(module)"
    if getattr(module, "_compiled_call_impl", None) is not None:
        return "module.compile()"
    forward = vars(module).get("forward")
    if isinstance(forward, CompiledForward):
        return "Task(compile=...)"
    if getattr(forward, "_torchdynamo_orig_callable", None) is not None:
        return "module.forward = torch.compile(...)"
    return None


def run_compiled(model: nn.Module) -> dict[nn.Module, str]:
    """Every module of ``model`` (wrappers included) whose hooks run inside compiled code,
    with how the region around it was compiled.

    That is each module below a compiled one, and the compiled module itself when its whole
    call is compiled (``torch.compile(module)``, ``module.compile()``), not only its
    ``forward`` (:data:`OWN_HOOKS_OUTSIDE`).
    """
    inside: dict[nn.Module, str] = {}
    for outer in model.modules():
        how = compiled_how(outer)
        if how is None:
            continue
        for module in outer.modules():
            if module is outer and how in OWN_HOOKS_OUTSIDE:
                continue
            inside.setdefault(module, how)
    return inside
