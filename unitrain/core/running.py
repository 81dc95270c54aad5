"""What the loop and the passes use of the engine that runs them, as a Protocol.

:class:`~unitrain.core.engine.Engine` satisfies it; naming the Protocol, not the class, keeps
the loop's modules (:mod:`.loop`, :mod:`.passes`, :mod:`.window`) below the engine that
imports them, with no circle between them even for type hints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from unitrain.core.config import TrainerConfig
    from unitrain.core.state import State
    from unitrain.hooks.manager import PluginManager
    from unitrain.hooks.specs import Hooks

__all__ = ["Running"]


class Running(Protocol):
    """The engine, as the loop sees it."""

    state: State
    config: TrainerConfig
    plugins: PluginManager
    #: ``time.monotonic()`` value at which the current fit stops (``max_time``), or None
    fit_deadline: float | None
    #: the last training step's loss, held until the next step's forward (see train_step)
    held_loss: Any

    @property
    def hooks(self) -> Hooks:
        """The typed hook facade."""
        ...

    def make_optimizers(self) -> None:
        """Ask the providers for optimizers and schedulers, once per engine."""
        ...

    def length_reached(self) -> bool:
        """True when ``max_epochs`` or ``max_steps`` is reached."""
        ...
