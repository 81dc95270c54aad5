"""Compiled hook callers: pluggy's semantics at the cost of plain function calls.

pluggy costs about 1.2 µs per hook call plus 0.4 µs per implementation, because it builds
each implementation's argument list from a keyword dict on every call. The set of plugins
changes only at registration, so each time it does we generate, per hook, one small
function that calls the implementations in the one order with positional arguments::

    def on_train_step_end(state, batch, result):
        try:
            _f0(state, result)
            _f1(state, batch, result)
        except BaseException as e:
            _on_error(e)
            raise

Stages stop at the first non-``None`` result, as with ``firstresult``. A hook that has a
``wrapper=True`` implementation falls back to pluggy's own call (the order is still ours:
the manager sorts pluggy's implementation list). Semantics are locked by the lifecycle and
ordering tests, which run against this relay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["compile_caller"]

ErrorHandler = Callable[[BaseException, str, "list[pluggy.HookImpl]"], None]


def compile_caller(
    hook: pluggy.HookCaller,
    impls: list[pluggy.HookImpl],
    on_error: ErrorHandler,
) -> Callable[..., Any]:
    """Return one function that calls ``impls`` (already in call order) like pluggy would."""
    assert hook.spec is not None
    name = hook.name
    argnames = hook.spec.argnames
    firstresult = bool(hook.spec.opts.get("firstresult"))
    params = ", ".join(argnames)
    namespace: dict[str, Any] = {"_impls": impls, "_hook": hook, "_name": name}
    namespace["_on_error"] = lambda error: on_error(error, name, impls)
    body: list[str] = []
    if any(impl.wrapper or impl.hookwrapper for impl in impls):
        keywords = ", ".join(f"{arg}={arg}" for arg in argnames)
        body.append(f"return _hook({keywords})")
    else:
        for index, impl in enumerate(impls):
            namespace[f"_f{index}"] = impl.function
            call = f"_f{index}({', '.join(impl.argnames)})"
            if firstresult:
                body += [f"_r = {call}", "if _r is not None:", "    return _r"]
            else:
                body.append(call)
        body.append("return None")
    source = "\n".join(
        [f"def {name}({params}):", "    try:"]
        + [f"        {line}" for line in body]
        + ["    except BaseException as _e:", "        _on_error(_e)", "        raise"]
    )
    exec(compile(source, f"<unitrain hook {name}>", "exec"), namespace)
    function: Callable[..., Any] = namespace[name]
    return function
