"""t3w's Aim plugin (``t3w.plugins.aim``); needs the ``aim`` extra."""

from unitrain.compat.t3w.plugins.aim.side_effect import AimSideEffect

__all__ = ["AimSideEffect"]
