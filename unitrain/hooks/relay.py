"""Compiled hook callers: pluggy's semantics at the cost of plain function calls.

pluggy costs about 1.2 µs per hook call plus 0.4 µs per implementation, because it builds
each implementation's argument list from a keyword dict on every call. The set of plugins
changes only at registration, so each time it does we generate, per hook, one small
function that calls the implementations in the one order with positional arguments::

    def on_train_step_end(state, batch, result):
        try:
            _f0(state, result)
            _f1(state, batch, result)
        except BaseException as _e:
            _on_error(_e)
            raise

Stages stop at the first non-``None`` result, as with ``firstresult``. A hook with
``wrapper=True`` implementations gets the same straight-line code for its plain
implementations, run inside the wrappers by a port of pluggy's ``_multicall`` (set-up in
call order, teardown in reverse; the inner result or exception is sent or thrown in; a
wrapper's return value replaces the result; "did not yield" / "has second yield" raise
the same ``RuntimeError``); and, as in pluggy, a wrapped hook that is not ``firstresult``
returns the list of non-``None`` results. An implementation's parameter with a default
gets the hook's argument of that name by keyword, as pluggy ≥ 1.7 passes it (pluggy 1.6
left it at its default). A plain implementation whose function carries a
:class:`~unitrain.hooks.forward.Forward` is called past that function: the forward's target
with its argument expressions, under its guard (see :mod:`.forward`). Old-style
``hookwrapper=True`` implementations are rejected by the manager and refused here. The
generated code depends only on the hook's shape, so its compiled form is cached. Semantics
are locked by the lifecycle, ordering and relay tests, which compare this module with
pluggy's own call (and, for forwards, with calling the functions themselves).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Generator, Mapping, Sequence
from functools import lru_cache
from types import CodeType
from typing import Any, NoReturn

import pluggy

from unitrain.hooks.forward import Forward

__all__ = ["compile_caller"]

ErrorHandler = Callable[[BaseException, str, "list[pluggy.HookImpl]"], None]
Teardown = Generator[None, object, object]
Wrap = Callable[[Callable[..., Any], str, str], Callable[..., Any]]
Call = tuple[tuple[str, ...], str | None, tuple[tuple[str, tuple[str, ...]], ...]]
"""One plain call's shape: argument expressions, guard, derived values (name, arguments)."""


def compile_caller(
    hook: pluggy.HookCaller,
    impls: list[pluggy.HookImpl],
    on_error: ErrorHandler,
    wrap: Wrap | None = None,
    forwards: Mapping[pluggy.HookImpl, Forward] | None = None,
) -> Callable[..., Any]:
    """Return one function that calls ``impls`` (already in call order) like pluggy would;
    ``wrap`` (the hook timer's) wraps each plain implementation's function; ``forwards``
    says which plain implementations are called past their function (ignored while
    ``wrap`` is given: a timed call times the implementation as registered)."""
    assert hook.spec is not None
    name = hook.name
    argnames = tuple(hook.spec.argnames)
    firstresult = bool(hook.spec.opts.get("firstresult"))
    if any(impl.hookwrapper for impl in impls):
        raise TypeError(f"{name}: old-style hookwrapper=True implementations are not relayed")
    namespace: dict[str, Any] = {"_enter": _enter, "_unwind": _unwind}
    namespace["_on_error"] = lambda error: on_error(error, name, impls)
    wrappers = [impl for impl in impls if impl.wrapper]
    plain = [impl for impl in impls if not impl.wrapper]
    calls: list[Call] = []
    for index, impl in enumerate(plain):
        forward = None if wrap is not None or forwards is None else forwards.get(impl)
        if forward is None:
            call = impl.function
            namespace[f"_f{index}"] = call if wrap is None else wrap(call, impl.plugin_name, name)
            calls.append((_call_shape(impl, argnames), None, ()))
        else:
            where = f"{name} of {impl.plugin_name!r}"
            calls.append(_forward(forward, index, argnames, namespace, where))
    shape = (
        name,
        argnames,
        firstresult,
        tuple(_call_shape(impl, argnames) for impl in wrappers),
        tuple(calls),
    )
    for index, impl in enumerate(wrappers):
        namespace[f"_w{index}"] = impl.function
    exec(_code(shape), namespace)
    function: Callable[..., Any] = namespace[name]
    return function


def _call_shape(impl: pluggy.HookImpl, argnames: tuple[str, ...]) -> tuple[str, ...]:
    """The argument list of one call: its positional parameters, then, as pluggy ≥ 1.7
    passes them, each parameter with a default that the hook provides, by keyword."""
    keywords = tuple(f"{arg}={arg}" for arg in impl.kwargnames if arg in argnames)
    return (*impl.argnames, *keywords)


def _forward(
    forward: Forward,
    index: int,
    argnames: tuple[str, ...],
    namespace: dict[str, Any],
    where: str,
) -> Call:
    """Put ``forward``'s objects into ``namespace`` under this call's names; its shape."""
    namespace[f"_f{index}"] = forward.target
    names: dict[str, str] = {"v": f"_v{index}"}
    derived: list[tuple[str, tuple[str, ...]]] = []
    for value in forward.derived:
        if not value.name.isidentifier():
            raise TypeError(f"{where}: derived value name {value.name!r} is not an identifier")
        provider = namespace.setdefault(f"_p_{value.name}", value.provider)
        if provider is not value.provider:
            raise TypeError(f"{where}: derived value {value.name!r} has two providers")
        if not set(value.args) <= set(argnames):
            raise TypeError(f"{where}: derived value {value.name!r} needs {value.args}")
        names[value.name] = f"_d_{value.name}"
        derived.append((value.name, value.args))
    constants = [f"_c{index}_{j}" for j in range(len(forward.constants))]
    namespace.update(zip(constants, forward.constants, strict=True))
    allowed = {*argnames, *constants, *names.values()}
    args = tuple(_expression(arg, constants, names, allowed, where) for arg in forward.args)
    guard = None
    if forward.guard is not None:
        guard = _expression(forward.guard, constants, names, allowed, where)
    return args, guard, tuple(derived)


def _expression(
    template: str, constants: list[str], names: dict[str, str], allowed: set[str], where: str
) -> str:
    """``template`` with its placeholders filled, checked to use only ``allowed`` names."""
    try:
        source = template.format(*constants, **names)
        tree = ast.parse(source, mode="eval")
    except (IndexError, KeyError, SyntaxError) as error:
        raise TypeError(f"{where}: bad forward expression {template!r}: {error}") from None
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    if not used <= allowed:
        raise TypeError(f"{where}: forward expression {template!r} uses {sorted(used - allowed)}")
    return f"({source})"


@lru_cache(maxsize=1024)
def _code(shape: tuple[Any, ...]) -> CodeType:
    """The compiled module that defines the caller of one hook shape."""
    name, argnames, firstresult, wrappers, plain = shape
    collect = bool(wrappers) and not firstresult  # pluggy hands wrappers a list
    calls = _plain_calls(plain, firstresult, collect)
    if wrappers:
        inner = [f"def _inner({', '.join(argnames)}):", *_indent(calls)]
        setup = [f"_t.append(_enter(_w{i}({', '.join(args)})))" for i, args in enumerate(wrappers)]
        body = [
            "_t = []",
            "try:",
            *_indent(setup),
            f"    _res = _inner({', '.join(argnames)})",
            "except BaseException as _x:",
            "    return _unwind(_t, None, _x)",
            "return _unwind(_t, _res, None)",
        ]
    else:
        inner, body = [], calls
    source = "\n".join(
        [
            *inner,
            f"def {name}({', '.join(argnames)}):",
            "    try:",
            *_indent(body, 8),
            "    except BaseException as _e:",
            "        _on_error(_e)",
            "        raise",
        ]
    )
    return compile(source, f"<unitrain hook {name}>", "exec")


def _plain_calls(plain: Sequence[Call], firstresult: bool, collect: bool) -> list[str]:
    lines = ["_results = []"] if collect else []
    computed: set[str] = set()
    for index, (args, guard, derived) in enumerate(plain):
        for value, value_args in derived:  # once, before the first call that needs it
            if value not in computed:
                computed.add(value)
                lines.append(f"_d_{value} = _p_{value}({', '.join(value_args)})")
        call = f"_f{index}({', '.join(args)})"
        if firstresult:
            body = [f"_r = {call}", "if _r is not None:", "    return _r"]
        elif collect:
            body = [f"_r = {call}", "if _r is not None:", "    _results.append(_r)"]
        else:
            body = [call]
        lines += body if guard is None else [f"if {guard}:", *_indent(body)]
    lines.append("return _results" if collect else "return None")
    return lines


def _indent(lines: list[str], width: int = 4) -> list[str]:
    return [" " * width + line for line in lines]


def _enter(generator: Teardown) -> Teardown:
    """Run a new-style wrapper up to its ``yield`` (pluggy's set-up step)."""
    try:
        next(generator)
    except StopIteration:
        _raise_wrapfail(generator, "did not yield")
    return generator


def _unwind(teardowns: list[Teardown], result: object, exception: BaseException | None) -> Any:
    """Finish the wrappers innermost first, exactly as pluggy's ``_multicall`` does."""
    __tracebackhide__ = True
    for teardown in reversed(teardowns):
        try:
            if exception is not None:
                try:
                    teardown.throw(exception)
                except RuntimeError as error:
                    # a StopIteration thrown into a generator comes back as RuntimeError
                    if isinstance(exception, StopIteration) and error.__cause__ is exception:
                        teardown.close()
                        continue
                    raise
            else:
                teardown.send(result)
            teardown.close()  # only reached by a wrapper that yields twice
        except StopIteration as stop:
            result = stop.value
            exception = None
            continue
        except BaseException as error:
            exception = error
            continue
        _raise_wrapfail(teardown, "has second yield")
    if exception is not None:
        raise exception
    return result


def _raise_wrapfail(generator: Teardown, message: str) -> NoReturn:
    code = generator.gi_code  # type: ignore[attr-defined]
    raise RuntimeError(
        f"wrap_controller at {code.co_name!r} {code.co_filename}:{code.co_firstlineno} {message}"
    )
