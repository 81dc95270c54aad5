"""Settings that change the math: a resume must keep them, or say out loud that it does not.

A checkpoint records the trainer's settings (``checkpoint["config"]``). Resuming with a
different accumulation changes what one optimizer step averages (and a checkpoint saved in
the middle of an accumulation window holds gradients of a window of the old size); a
different ``limit_train_batches`` changes which batches an epoch holds. Such a resume is not
the run it continues: :func:`check_resume_settings` refuses it with a
:class:`~unitrain.errors.ConfigError` listing each difference, unless the setting is named
in ``allow`` (``Checkpoint(allow_setting_changes=("accumulation",))``), which turns the
refusal into a :class:`~unitrain.errors.UnitrainWarning`. The length of the fit
(``max_epochs`` / ``max_steps``), evaluation cadence and device may change freely.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from typing import Any

from unitrain.errors import ConfigError, UnitrainWarning

__all__ = ["MATH_SETTINGS", "check_resume_settings", "setting_changes"]

#: The trainer settings whose change makes a resumed run differ from an uninterrupted one.
MATH_SETTINGS = ("accumulation", "limit_train_batches")


def setting_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """``{setting: (saved, now)}`` for each of :data:`MATH_SETTINGS` that differs."""
    return {
        key: (saved.get(key), current.get(key))
        for key in MATH_SETTINGS
        if key in saved and saved.get(key) != current.get(key)
    }


def check_resume_settings(
    saved: object,
    current: Mapping[str, Any],
    *,
    allow: Collection[str] = (),
    source: str = "the checkpoint",
    mid_window: bool = False,
) -> None:
    """Refuse (or, for settings in ``allow``, warn about) a change of :data:`MATH_SETTINGS`."""
    if not isinstance(saved, Mapping):
        return  # a checkpoint of an older unitrain, without its settings
    changes = setting_changes(saved, current)
    if mid_window and "accumulation" in changes:
        allow = [key for key in allow if key != "accumulation"]  # its grads are of the old size
    refused = {k: v for k, v in changes.items() if k not in allow}
    described = "; ".join(f"{k} was {old!r}, is {new!r}" for k, (old, new) in changes.items())
    if refused:
        names = ", ".join(repr(k) for k in refused)
        extra = (
            " The checkpoint was saved inside an accumulation window, whose gradients "
            "belong to the old accumulation: no override can make that exact."
            if mid_window and "accumulation" in refused
            else f" To resume anyway, pass Checkpoint(allow_setting_changes=({names},))."
        )
        raise ConfigError(
            f"resuming from {source} with settings that change the math: {described}. "
            f"The resumed run would not continue the saved one. Use the saved values.{extra}"
        )
    if changes:
        warnings.warn(
            f"resuming from {source} with changed settings ({described}), as allowed by "
            "allow_setting_changes: the result differs from an uninterrupted run",
            UnitrainWarning,
            stacklevel=3,
        )
