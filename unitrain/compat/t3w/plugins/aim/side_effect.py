"""t3w's ``AimSideEffect``: losses, metrics, eval values and media tracked in an Aim run.

Needs the ``aim`` package (``pip install 'unitrain[aim]'``); without it the side effect is
refused when it is made, naming that extra. What it tracks is t3w's: every loss raw
(``train/loss/<name>/raw``) and reweighted (``.../reweighted``), every train metric
(``train/metric/<name>``), every eval value (``eval/<name>``), each at the optimizer step and
epoch of the module; the run's ``hparams``; parameter and gradient distributions every
``track_weights_every_n_steps`` steps; the loops' matplotlib / plotly media.
"""

from __future__ import annotations

import io
import os
from functools import cached_property
from typing import Any

from unitrain.compat.t3w.contract import StepReturnDict
from unitrain.compat.t3w.media import MediaData, MediaType
from unitrain.compat.t3w.side_effect import ISideEffect
from unitrain.errors import ConfigError

__all__ = ["AimSideEffect"]


def _require_aim() -> Any:
    try:
        import aim  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            "AimSideEffect logs to an Aim repository and needs the 'aim' package, which is "
            "not installed: pip install 'unitrain[aim]' (the 'aim' extra), or drop the side "
            "effect and log with TensorBoard / MLflow plugins instead"
        ) from None
    return aim


class AimSideEffect(ISideEffect):
    """Tracks a t3w fit in an Aim run (see the module docstring)."""

    def __init__(
        self,
        experiment: str,
        hparams_dict: dict[str, Any],
        run_hash: str | None = None,
        description: str | None = None,
        repo: str | os.PathLike[str] = "./",
        track_weights_every_n_steps: int | None = None,
    ) -> None:
        _require_aim()
        self.run_kwargs = {"run_hash": run_hash, "repo": str(repo), "experiment": experiment}
        self.description = description
        self.hparams_dict = dict(hparams_dict)
        self.track_weights_every_n_steps = track_weights_every_n_steps

    @cached_property
    def run(self) -> Any:
        """The Aim run, opened on first use (on rank 0 only, like every logging side effect)."""
        aim = _require_aim()
        run = aim.Run(**self.run_kwargs)
        if self.description:
            run.description = self.description
        run["hparams"] = {key: _plain(value) for key, value in self.hparams_dict.items()}
        return run

    def __getstate__(self) -> dict[str, Any]:
        # a distributed run pickles its side effects: the open run stays in this process
        return {key: value for key, value in self.__dict__.items() if key != "run"}

    def on_eval_finished(self, loop: Any) -> None:
        progress = loop.model.training_progress
        for name, value in loop.metric_values.items():
            self.run.track(value, name=f"eval/{name}", step=progress.step, epoch=progress.epoch)

    def on_train_step_finished(
        self, loop: Any, step: int, mb: Any, step_return: StepReturnDict
    ) -> None:
        progress = loop.model.training_progress
        at = {"step": progress.step, "epoch": progress.epoch}
        for name, (reweight, raw) in step_return.get("losses", {}).items():
            value = _number(raw)
            self.run.track(value, name=f"train/loss/{name}/raw", **at)
            self.run.track(reweight * value, name=f"train/loss/{name}/reweighted", **at)
        for name, metric in step_return.get("metrics", {}).items():
            self.run.track(_number(metric), name=f"train/metric/{name}", **at)
        every = self.track_weights_every_n_steps
        if every and (step + 1) % every == 0:
            from aim.sdk.adapters.pytorch import (  # type: ignore[import-not-found]
                track_gradients_dists,
                track_params_dists,
            )

            track_params_dists(loop.model, self.run)
            track_gradients_dists(loop.model, self.run)
        self._media(loop, progress.epoch, training=True)

    def on_eval_step_finished(self, loop: Any, step: int, mb: Any) -> None:
        self._media(loop, loop.model.training_progress.epoch, training=False)

    def _media(self, loop: Any, step: int, training: bool) -> None:
        medias = getattr(loop, "medias", None)
        if medias is None:
            return
        aim = _require_aim()
        item: MediaData
        for item in medias.get_latest_output():
            context = {"note": item.media_note, "training": training}
            if item.media_type == MediaType.FIGURE_PX:
                tracked = aim.Figure(item.media_data)
            elif item.media_type == MediaType.FIGURE_MPL:
                tracked = aim.Image(_figure_image(item.media_data))
            else:
                raise ConfigError(
                    f"AimSideEffect: media of type {item.media_type!r} cannot be tracked; "
                    "produce matplotlib or plotly figures (MediaType.FIGURE_MPL / FIGURE_PX)"
                )
            self.run.track(tracked, name=str(item.media_type.value), step=step, context=context)


def _number(value: Any) -> float:
    """A loss or metric as a float (read from the device; the graph is not kept)."""
    if hasattr(value, "detach"):
        value = value.detach()
    return float(value)


def _figure_image(figure: Any) -> Any:
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer)
    buffer.seek(0)
    return Image.open(buffer)


def _plain(value: Any) -> Any:
    """Aim stores plain data only: numbers, strings, bools, None, lists and dicts of them."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)
