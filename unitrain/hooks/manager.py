"""The plugin manager: names, the one order, the rank rule, validation and error notes.

pluggy is the registry and the validator; on top of it this module adds what pluggy
lacks: an integer order shared by every plugin style, a rank rule applied at
registration, early rejection of misspelt hooks, compiled dispatch (:mod:`.relay`), and
error attribution.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pluggy

from unitrain.errors import PluginError
from unitrain.hooks.blame import describe_position, find_culprit
from unitrain.hooks.forward import SILENT, Forward, forward_of
from unitrain.hooks.markers import PROJECT
from unitrain.hooks.relay import compile_caller
from unitrain.hooks.specs import Hooks
from unitrain.hooks.timing import HookTimer
from unitrain.hooks.validation import (
    RankRule,
    check_order,
    check_ranks,
    first_parameter,
    snake_case,
    unknown_hook_message,
)

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["PluginManager", "PluginRecord", "RankRule", "describe_position"]

HOOK_PREFIXES = ("on_", "run_", "make_")
STAGE_PREFIXES = ("run_", "make_")
_NOTED = "_unitrain_noted"


@dataclass(slots=True, eq=False)
class PluginRecord:
    """One registered plugin and how it is ordered."""

    name: str
    plugin: object
    order: int
    ranks: RankRule
    index: int
    distribution: str | None = None
    provides_defaults: bool = False


class _Pluggy(pluggy.PluginManager):
    """pluggy, taught that ``on_* / run_* / make_*`` methods are implementations."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None or not name.startswith(HOOK_PREFIXES):
            return opts
        method = getattr(plugin, name, None)
        if not inspect.isroutine(method) or getattr(method, "unitrain_not_a_hook", False):
            return None
        # An override written without @hookimpl keeps the marks of the method it overrides
        # (e.g. a Task subclass's on_eval_end stays tryfirst).
        for cls in type(plugin).__mro__[1:]:
            base = cls.__dict__.get(name)
            if getattr(base, "unitrain_not_a_hook", False):
                return None
            marks: pluggy.HookimplOpts | None = getattr(base, f"{PROJECT}_impl", None)
            if marks is not None and marks["wrapper"] == inspect.isgeneratorfunction(method):
                return marks
        return pluggy.HookimplOpts(
            wrapper=False,
            hookwrapper=False,
            optionalhook=False,
            tryfirst=False,
            trylast=False,
            specname=None,
        )


class PluginManager:
    """Registers plugins by name and calls hooks in the one order.

    ``hooks`` is the typed facade: ``manager.hooks.on_fit_start(state)`` is checked by mypy
    against :class:`~unitrain.hooks.specs.Hooks`.
    """

    def __init__(self, rank: int = 0, local_rank: int = 0) -> None:
        self.rank = rank
        self.local_rank = local_rank
        self.state: State | None = None
        self._pluggy = _Pluggy(PROJECT)
        self._pluggy.add_hookspecs(Hooks)
        self._records: dict[str, PluginRecord] = {}
        self._skipped: dict[str, RankRule] = {}
        self._counter = 0
        self.generation = 0  # bumped whenever the plugin set changes (plans cached on it expire)
        # what the loop precomputes from the plugin set (see bound()); emptied when it changes
        self.plans: dict[str, Any] = {}
        self._order: dict[str, list[pluggy.HookImpl]] = {}
        # implementations the relay calls past their function (see hooks/forward.py)
        self._forwards: dict[pluggy.HookImpl, Forward] = {}
        self._relay = _Relay()
        self.timer = HookTimer(self._rebuild)  # the profiler's view: time per plugin and hook
        self.hooks: Hooks = cast(Hooks, self._relay)
        self._rebuild()

    # ----------------------------------------------------------- registry

    def register(
        self,
        plugin: object,
        name: str | None = None,
        *,
        order: int | None = None,
        ranks: RankRule | None = None,
        distribution: str | None = None,
    ) -> str | None:
        """Register ``plugin`` and return its name, or ``None`` when its rank rule excludes
        this process (then it is not registered at all and costs nothing).

        ``order`` defaults to ``plugin.order`` (or 0) and ``ranks`` to ``plugin.ranks`` (or
        ``"all"``). Without ``name`` the plugin's ``name`` attribute or its class name is
        used, with ``-2``, ``-3`` ... appended if taken. Raises :class:`PluginError` for a
        misspelt hook, arguments the hook does not have, an old-style wrapper, a taken
        explicit name, or a bad order / rank rule; nothing stays registered then.

        An object whose class defines ``unitrain_plugin(manager)`` is not a plugin itself:
        what that method returns is registered in its place. That is how a plugin written
        in another style with clashing method names (an aitoolbox callback's
        ``on_epoch_end()``) joins a native trainer.
        """
        supply = getattr(type(plugin), "unitrain_plugin", None)
        if callable(supply):
            plugin = supply(plugin, self)
        resolved = self._resolve_name(plugin, name)
        order = check_order(resolved, getattr(plugin, "order", 0) if order is None else order)
        ranks = check_ranks(resolved, getattr(plugin, "ranks", "all") if ranks is None else ranks)
        if not self._rank_matches(ranks):
            self._skipped[resolved] = ranks
            return None
        try:
            self._pluggy.register(plugin, name=resolved)
        except pluggy.PluginValidationError as error:
            raise PluginError(f"plugin {resolved!r} cannot be registered: {error}") from None
        except ValueError as error:
            raise PluginError(f"plugin {resolved!r} cannot be registered: {error}") from None
        self._counter += 1
        self._records[resolved] = PluginRecord(
            name=resolved,
            plugin=plugin,
            order=order,
            ranks=ranks,
            index=self._counter,
            distribution=distribution,
            provides_defaults=bool(getattr(plugin, "unitrain_defaults", False)),
        )
        try:
            self._validate(resolved, plugin)
            self._rebuild()
        except PluginError:
            self.unregister(resolved)
            raise
        except TypeError as error:  # a forward the relay cannot compile (see forward.py)
            self.unregister(resolved)
            raise PluginError(f"plugin {resolved!r} cannot be registered: {error}") from None
        return resolved

    def unregister(self, name: str) -> object:
        """Remove the plugin registered as ``name`` and return it."""
        record = self._records.pop(name, None)
        if record is None:
            raise PluginError(f"no plugin named {name!r} is registered; registered: {self.names}")
        self._pluggy.unregister(name=name)
        self._rebuild()
        return record.plugin

    def get(self, name: str) -> object | None:
        """The plugin registered as ``name``, or ``None``."""
        record = self._records.get(name)
        return None if record is None else record.plugin

    def record(self, name: str) -> PluginRecord:
        """The registration record of ``name``."""
        return self._records[name]

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def __iter__(self) -> Iterator[PluginRecord]:
        return iter(sorted(self._records.values(), key=lambda r: (r.order, r.index)))

    @property
    def names(self) -> list[str]:
        """Registered plugin names, in the one order."""
        return [record.name for record in self]

    @property
    def skipped(self) -> dict[str, RankRule]:
        """Plugins not registered on this process because of their rank rule."""
        return dict(self._skipped)

    def implementations(self, hook_name: str) -> list[pluggy.HookImpl]:
        """The implementations of ``hook_name`` in the order they are called."""
        return list(self._order[hook_name])

    def forward(self, impl: pluggy.HookImpl) -> Forward | None:
        """How the relay calls ``impl`` past its function (see :mod:`.forward`), or ``None``
        when it calls ``impl.function`` itself."""
        return self._forwards.get(impl)

    def bound(self, hook_name: str) -> Callable[..., Any] | None:
        """The cheapest callable that calls ``hook_name`` as the relay would, for a loop
        that looks it up once per plugin set (cache it in :attr:`plans`).

        ``None`` when nothing implements the hook (the caller skips the call); the
        implementation itself when it is the only one, not a wrapper, not forwarded, and
        takes exactly the hook's arguments in the spec's order (a task's default stage,
        say); else the compiled relay. The first two add no note to an error: a loop that
        calls them catches the error and passes it to :meth:`note_raised`.
        """
        impls = self._order[hook_name]
        if not impls:
            return None
        if len(impls) == 1 and not self.timer.running:  # a timed call goes through the relay
            (impl,) = impls
            if impl in self._forwards:  # the relay calls past its function: cheaper
                return cast(Callable[..., Any], getattr(self._relay, hook_name))
            spec = getattr(self._pluggy.hook, hook_name).spec
            if not impl.wrapper and tuple(impl.argnames) == tuple(spec.argnames):
                if not set(impl.kwargnames) & set(spec.argnames):
                    function: Callable[..., Any] = impl.function
                    return function
        relay: Callable[..., Any] = getattr(self._relay, hook_name)
        return relay

    def note_raised(self, error: BaseException, hook_names: Iterable[str]) -> None:
        """Note ``error`` like the relay would, when it came out of an implementation that
        :meth:`bound` handed out directly: the outermost frame in its traceback that runs
        one of ``hook_names``' implementations names the plugin and the hook. An error
        already noted, or raised by none of them, is left alone."""
        if getattr(error, _NOTED, False):
            return
        impls = {name: self._order[name] for name in hook_names}
        found = find_culprit(error, [i for group in impls.values() for i in group], self._forwards)
        if found is None:
            return
        plugin, impl = found
        hook = next(name for name, group in impls.items() if impl in group)
        self.note_error(error, hook, plugin)

    def check_pending(self) -> None:
        """Raise :class:`PluginError` if any registered implementation has no hook.

        ``register`` already checks each plugin as it arrives; this re-checks the whole
        registry (pluggy's ``check_pending``), e.g. after plugins were added through pluggy
        directly.
        """
        try:
            self._pluggy.check_pending()
        except pluggy.PluginValidationError as error:
            raise PluginError(str(error)) from None

    # ----------------------------------------------------------- errors

    def notify_exception(self, state: State, error: BaseException) -> None:
        """Run every ``on_exception`` implementation, each in isolation.

        A failing implementation does not stop the others; its failure is added to
        ``error`` as a note, and ``error`` itself is left to propagate by the caller.
        """
        for impl in self.implementations("on_exception"):
            arguments = {"state": state, "error": error}
            try:
                impl.function(*(arguments[arg] for arg in impl.argnames))
            except Exception as failure:
                error.add_note(
                    f"unitrain: on_exception of plugin {impl.plugin_name!r} also raised "
                    f"{type(failure).__name__}: {failure}"
                )

    def note_error(self, error: BaseException, hook: str, plugin: str | None) -> None:
        """Add the one note naming the plugin that raised ``error`` in ``hook`` and where
        the loop was; an error already noted is left alone."""
        if getattr(error, _NOTED, False):
            return
        who = "an unknown implementation"
        if plugin is not None:
            record = self._records.get(plugin)
            dist = f" (from {record.distribution})" if record and record.distribution else ""
            who = f"plugin {plugin!r}{dist}"
        error.add_note(
            f"unitrain: raised by {who} in hook {hook!r} ({describe_position(self.state)})"
        )
        try:
            setattr(error, _NOTED, True)
        except AttributeError:  # an exception with __slots__: a second note is harmless
            pass

    def _on_hook_error(self, error: BaseException, hook: str, impls: list[pluggy.HookImpl]) -> None:
        if not getattr(error, _NOTED, False):
            found = find_culprit(error, impls, self._forwards)
            self.note_error(error, hook, None if found is None else found[0])

    # ----------------------------------------------------------- internals

    def _resolve_name(self, plugin: object, name: str | None) -> str:
        if name is not None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin name must be a non-empty string, got {name!r}")
            if name in self._records:
                taken = self._records[name].plugin
                raise PluginError(
                    f"a plugin named {name!r} is already registered ({taken!r}); "
                    "pass a different name="
                )
            if self._pluggy.is_blocked(name):
                raise PluginError(f"plugin {name!r} is blocked and cannot be registered")
            return name
        base = getattr(plugin, "name", None)
        if not isinstance(base, str) or not base:
            base = snake_case(type(plugin).__name__)
        candidate, n = base, 1
        while candidate in self._records:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _rank_matches(self, ranks: RankRule) -> bool:
        if ranks == "all":
            return True
        if ranks == "main":
            return self.rank == 0
        return self.local_rank == ranks

    def _validate(self, name: str, plugin: object) -> None:
        for caller in self._pluggy.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                if caller.spec is None:
                    raise PluginError(unknown_hook_message(name, caller.name))
                if isinstance(plugin, type) and first_parameter(impl.function) == "self":
                    raise PluginError(
                        f"plugin {name!r} is the class {plugin.__name__}, not an instance: its "
                        f"hook {caller.name!r} takes self; register {plugin.__name__}() instead"
                    )
                if impl.hookwrapper:
                    raise PluginError(
                        f"plugin {name!r}: hook {caller.name!r} uses the old-style "
                        "hookwrapper=True; write it as a new-style wrapper "
                        "(@hookimpl(wrapper=True) with `try: return (yield) finally: ...`)"
                    )

    def _sort_key(self, hook: str, impl: pluggy.HookImpl) -> tuple[int, int, int]:
        record = self._records[impl.plugin_name]
        if record.provides_defaults and hook.startswith(STAGE_PREFIXES) and not impl.wrapper:
            bucket = 3  # the task's defaults answer only when no plugin did
        else:
            bucket = 0 if impl.tryfirst else 2 if impl.trylast else 1
        return (bucket, record.order, record.index)

    def _rebuild(self) -> None:
        self.generation += 1
        self._forwards = {}
        for name in dir(Hooks):
            if name.startswith("_"):
                continue
            caller: pluggy.HookCaller = getattr(self._pluggy.hook, name)
            impls = [impl for impl in caller.get_hookimpls() if self._bind(impl)]
            ordered = sorted(impls, key=lambda i: self._sort_key(name, i))
            wrappers = [i for i in ordered if i.wrapper]
            plain = [i for i in ordered if not i.wrapper]
            # the one order lives here, not in pluggy's own list: pluggy is the registry and
            # the validator, and is never asked to call a hook
            call_order = wrappers + plain
            self._order[name] = call_order
            wrap = self.timer.wrap if self.timer.running else None
            compiled = compile_caller(caller, call_order, self._on_hook_error, wrap, self._forwards)
            setattr(self._relay, name, compiled)
        self.plans.clear()

    def _bind(self, impl: pluggy.HookImpl) -> bool:
        """Note how the relay calls ``impl`` (see :mod:`.forward`); False if it never does."""
        if impl.wrapper:
            return True
        forward = forward_of(impl.function, impl.plugin, self)
        if forward is SILENT:
            return False
        if isinstance(forward, Forward):
            self._forwards[impl] = forward
        return True


class _Relay:
    """Holds one compiled caller per hook as an instance attribute."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(unknown_hook_message("<caller>", name))
