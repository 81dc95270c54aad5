"""The spec is the contract: every hook is documented in five parts, typed, without defaults;
stages and only stages are firstresult; every built-in plugin and the task fit the spec."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Any

import pluggy
import pytest

import unitrain
import unitrain.distributed
import unitrain.plugins
import unitrain.runs
import unitrain.tasks
from unitrain.hooks.manager import HOOK_PREFIXES
from unitrain.hooks.markers import PROJECT
from unitrain.hooks.specs import Hooks

HOOKS = sorted(name for name in dir(Hooks) if not name.startswith("_"))
STAGES = [name for name in HOOKS if name.startswith(("run_", "make_"))]
SPEC_MARK = f"{PROJECT}_spec"
IMPL_MARK = f"{PROJECT}_impl"


def spec_of(name: str) -> inspect.Signature:
    return inspect.signature(getattr(Hooks, name))


def test_every_public_attribute_is_a_hook_with_a_known_prefix() -> None:
    assert len(HOOKS) >= 20 and set(STAGES) >= {"run_forward", "run_backward", "make_optimizer"}
    for name in HOOKS:
        assert name.startswith(HOOK_PREFIXES), name
        assert hasattr(getattr(Hooks, name), SPEC_MARK), f"{name} is not a @hookspec"
    # one pair of words: start / end
    assert not [n for n in HOOKS if re.search(r"started|completed|begin|finish", n)]


@pytest.mark.parametrize("name", HOOKS)
def test_docstring_has_the_five_parts(name: str) -> None:
    doc = inspect.getdoc(getattr(Hooks, name)) or ""
    assert re.search(r"\b[Ff]ires\b", doc), f"{name}: when does it fire?"
    for argument in list(spec_of(name).parameters)[2:]:  # self and state are implied
        assert f"``{argument}``" in doc, f"{name}: argument {argument!r} is not described"
    assert re.search(r"\b(may|must not|May|Must not|changes? nothing)\b", doc), (
        f"{name}: what may it change?"
    )
    assert re.search(r"\bReturns?\b|\breturn\b", doc), f"{name}: what does it return?"
    assert re.search(r"\bWrappers?\b", doc), f"{name}: do wrappers suit it?"


@pytest.mark.parametrize("name", HOOKS)
def test_signature_state_first_no_defaults_typed(name: str) -> None:
    parameters = list(spec_of(name).parameters.values())
    assert [p.name for p in parameters[:2]] == ["self", "state"]
    for parameter in parameters:
        assert parameter.default is inspect.Parameter.empty, f"{name}({parameter.name}=...)"
        assert parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert parameter.name == "self" or parameter.annotation is not inspect.Parameter.empty
    returns = str(spec_of(name).return_annotation)
    if name.startswith("on_"):
        assert returns == "None", f"event {name} must return None"
    else:
        assert returns == "Any" or returns.endswith("| None"), f"stage {name} may give no answer"


@pytest.mark.parametrize("name", HOOKS)
def test_firstresult_exactly_on_stages(name: str) -> None:
    options = getattr(getattr(Hooks, name), SPEC_MARK)
    assert bool(options.get("firstresult")) == (name in STAGES)
    assert not options.get("historic") and not options.get("warn_on_impl")


def builtin_classes() -> list[type]:
    """Every class defined in ``unitrain.plugins.*``, ``unitrain.tasks.*``, ``unitrain.runs.*``
    and ``unitrain.distributed.*`` that has hook implementations."""
    found: list[type] = []
    for package in (unitrain.plugins, unitrain.tasks, unitrain.runs, unitrain.distributed):
        for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ == module.__name__ and implementations(cls):
                    found.append(cls)
    return found


def implementations(cls: type) -> dict[str, Any]:
    """The hook implementations of ``cls`` as the manager would pick them up."""
    impls: dict[str, Any] = {}
    for name, member in inspect.getmembers(cls, inspect.isroutine):
        if getattr(member, "unitrain_not_a_hook", False):
            continue
        if name.startswith(HOOK_PREFIXES) or hasattr(member, IMPL_MARK):
            impls[name] = member
    return impls


BUILTINS = builtin_classes()


def test_the_builtins_are_found() -> None:
    names = {cls.__name__ for cls in BUILTINS}
    expected = {"Task", "TrainStages", "EvalStages", "LRScheduler", "ExactResume", "WorldSizeCheck"}
    assert expected <= names


def _plain(annotation: str) -> str:
    return re.sub(r"\b\w+\.", "", annotation.replace(" ", ""))


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_builtin_impls_fit_the_spec(cls: type) -> None:
    for name, function in implementations(cls).items():
        opts = getattr(function, IMPL_MARK, {})
        hook = opts.get("specname") or name
        assert hook in HOOKS, f"{cls.__name__}.{name} implements no hook"
        argnames, _ = pluggy._hooks.varnames(function)
        spec = spec_of(hook).parameters
        assert set(argnames) <= set(spec), f"{cls.__name__}.{name}{argnames} vs spec {list(spec)}"
        # a parameter the impl annotates has the spec's type
        for argument, parameter in inspect.signature(function).parameters.items():
            if argument in spec and parameter.annotation is not inspect.Parameter.empty:
                expected = _plain(str(spec[argument].annotation))
                assert _plain(str(parameter.annotation)) == expected, f"{cls.__name__}.{name}"
        assert not opts.get("hookwrapper"), f"{cls.__name__}.{name} uses hookwrapper=True"
        if opts.get("wrapper"):
            assert inspect.isgeneratorfunction(function), f"{cls.__name__}.{name} must yield"


def test_no_old_style_wrapper_anywhere_in_the_package() -> None:
    root = Path(unitrain.__file__).parent
    pattern = re.compile(r"hookimpl\([^)]*hookwrapper\s*=\s*True")
    offenders = [str(path) for path in root.rglob("*.py") if pattern.search(path.read_text())]
    assert offenders == []


def test_the_task_registers_cleanly_and_check_pending_passes() -> None:
    from tests.conftest import make_task

    trainer = unitrain.Trainer(make_task(), max_epochs=1, device="cpu")
    trainer.plugins.check_pending()
    task_hooks = {
        impl.function.__name__
        for name in HOOKS
        for impl in trainer.plugins.implementations(name)
        if impl.plugin_name == "task"
    }
    assert {
        "run_forward",
        "run_backward",
        "run_eval_step",
        "run_predict_step",
        "make_optimizer",
        "run_prepare_batch",
        "run_optimizer_step",
    } <= task_hooks


def test_every_hook_is_fired_somewhere() -> None:
    # nothing is declared that never fires; on_exception goes through notify_exception,
    # which calls each implementation in isolation
    root = Path(unitrain.__file__).parent
    source = "\n".join(p.read_text() for p in root.rglob("*.py") if p.name != "specs.py")
    unfired = [name for name in HOOKS if f"hooks.{name}(" not in source]
    # the training step calls its hooks through a plan (unitrain.core.plan): each field of
    # the plan, one per hook, is called by the step
    from dataclasses import fields

    from unitrain.core.plan import STEP_HOOKS, StepPlan

    assert set(unfired) - set(STEP_HOOKS) == {"on_exception"}
    step = (root / "core" / "loop.py").read_text() + (root / "core" / "window.py").read_text()
    names = [field.name for field in fields(StepPlan)]
    assert len(names) == len(STEP_HOOKS)
    # called as plan.<field>(state, ...) or through a local read from it first
    assert all(
        f"{name}(state" in step
        or f"call := plan.{name})" in step
        or f"call = plan.{name}\n" in step
        for name in names
    ), names
    assert 'implementations("on_exception")' in source
