"""``TopLevelModule``: the user model with its optimizer, scheduler and training position.

The user model takes the minibatch, fills it in place and may return a regularizer loss.
In train mode ``forward(mb, losses, metrics, step_dict)`` returns the reweighted loss sum
(``0. + w_reg * regularizer + sum(w * loss)``, in t3w's order, so weights match a hand-written
loop bit for bit); in eval mode it returns ``mb``.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from unitrain.compat._atomic import write_atomic
from unitrain.compat.t3w.contract import StepReturnDict
from unitrain.compat.t3w.devices import parse_devices
from unitrain.compat.t3w.progress import TrainingProgress
from unitrain.core.contract import IMiniBatch
from unitrain.core.state import State
from unitrain.errors import BatchError, CheckpointError, ConfigError
from unitrain.runs.rng import capture_rng, restore_rng

__all__ = ["TopLevelModule"]


def _launcher_spec(device: str | int | torch.device) -> str:
    """The distributed launcher's spelling of a multi-device string (validated by it too)."""
    from unitrain.distributed import parse_devices as launcher_devices

    return str(launcher_devices(device if isinstance(device, str | int) else str(device)))


_GZIP_MAGIC = b"\x1f\x8b"


class TopLevelModule(nn.Module):
    """Owns ``user_model``, ``optim``, ``lr_scheduler`` and the training position.

    ``training_progress`` is a view onto the engine state of the last loop that ran this
    module (or a detached state before any loop, or after :meth:`load`).
    """

    def __init__(
        self,
        model: nn.Module,
        optim: torch.optim.Optimizer | None = None,
        lr_scheduler: Any = None,
        regularizer_reweight: float = 1.0,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ConfigError(f"TopLevelModule(model=...): expected an nn.Module, got {model!r}")
        self.user_model = model
        self.optim = optim
        self.lr_scheduler = lr_scheduler
        self.regularizer_reweight = regularizer_reweight
        self.distributed_devices: list[torch.device] = []
        self.devices_spec: str | None = None  # the launcher's device string when several
        self._device = torch.device("cpu")
        self._state = State()
        # the train loader's shuffling seed: set by the first TrainLoop, kept in checkpoints
        # so a loaded module continues the data order (see unitrain.compat.t3w.batches)
        self.data_seed: int | None = None

    # ------------------------------------------------------------------ position

    @property
    def training_progress(self) -> TrainingProgress:
        """``step`` (optimizer steps), ``epoch`` (completed epochs) and friends."""
        return TrainingProgress(self._state)

    def bind_state(self, state: State) -> None:
        """Make ``state`` the one the progress view reads, carrying the position over."""
        if state is not self._state:
            TrainingProgress(state).load(self.training_progress.as_dict())
            self._state = state

    # ------------------------------------------------------------------ devices

    @property
    def device(self) -> torch.device:
        """The device of the user model's parameters (or the last ``.to`` target)."""
        for parameter in self.user_model.parameters():
            return parameter.device
        return self._device

    def to(self, *args: Any, **kwargs: Any) -> TopLevelModule:
        """Move to one device (``"cpu"``, ``"cuda:0"``), or choose several for a distributed run.

        Several devices (``"cuda:0,1"``, ``"cuda:0-3"``, ``"cpu:2"`` for two CPU processes)
        make the loops start one process per device through unitrain's distributed launcher
        (as in t3w, the parameters move in those processes; afterwards this module holds
        rank 0's result). A malformed string is refused, naming the accepted forms.
        """
        if len(args) == 1 and not kwargs and isinstance(args[0], str | int | torch.device):
            devices = parse_devices(args[0])
            if len(devices) > 1:
                # as in t3w, the parameters move when the loops start one process per device
                self.distributed_devices = devices
                self.devices_spec = _launcher_spec(args[0])
                return self
            self.distributed_devices, self.devices_spec = [], None
            self._device = devices[0]
            super().to(devices[0])
            return self
        super().to(*args, **kwargs)
        return self

    def __getstate__(self) -> dict[str, Any]:
        # Pickled into the processes of a distributed run: carry the position, not the
        # engine state of this process (its stash holds this process's trainer).
        data = dict(self.__dict__)
        detached = State()
        TrainingProgress(detached).load(self.training_progress.as_dict())
        data["_state"] = detached
        return data

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        mb: Any,
        losses: Mapping[str, nn.Module] | None = None,
        metrics: Mapping[str, nn.Module] | None = None,
        step_dict: StepReturnDict | None = None,
    ) -> Any:
        """Train mode: the reweighted loss sum (filling ``step_dict``); eval mode: ``mb``."""
        if not isinstance(mb, IMiniBatch):
            raise BatchError(
                f"TopLevelModule got a batch of type {type(mb).__name__}; expected an "
                "IMiniBatch: make the datum type's collate return your minibatch class"
            )
        mb.to(self.device)
        mb.model = self
        if not self.training:
            self.user_model(mb)
            return mb
        step = step_dict if step_dict is not None else {"losses": {}, "metrics": {}}
        total: Any = 0.0
        regularizer = self.user_model(mb)
        if regularizer is not None:
            total += self.regularizer_reweight * regularizer
            step["losses"]["regularizer_loss"] = (self.regularizer_reweight, regularizer)
        for name, loss in (losses or {}).items():
            weight = float(getattr(loss, "loss_reweight", 1.0))
            raw = loss(mb)
            step["losses"][name] = (weight, raw)
            total += weight * raw
        with torch.no_grad():
            for name, metric in (metrics or {}).items():
                step["metrics"][name] = metric(mb)
        return total

    # ------------------------------------------------------------------ checkpoint

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write progress, model, optimizer, scheduler, every RNG and the data-order seed to
        ``path`` (gzip); a module loaded from it continues training bit for bit.

        The file is written beside ``path`` and renamed into place, so a crash never leaves
        half a checkpoint; it loads with ``torch.load(weights_only=True)``.
        """
        payload = {
            "training_progress": self.training_progress.as_dict(),
            "model": self.user_model.state_dict(),
            "optim": None if self.optim is None else self.optim.state_dict(),
            "lr_scheduler": None if self.lr_scheduler is None else self.lr_scheduler.state_dict(),
            "random_states": capture_rng(),
            "data_seed": self.data_seed,
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        write_atomic(
            Path(path),
            lambda stream: stream.write(gzip.compress(buffer.getvalue(), compresslevel=1, mtime=0)),
        )

    def load(self, path: str | os.PathLike[str], strict: bool = True) -> Any:
        """Restore what :meth:`save` wrote; returns the user model's incompatible keys.

        Only tensors and plain data are unpickled (``weights_only=True``); a file written
        by t3w itself pickled numpy objects and is refused with a message saying so.
        """
        raw = Path(path).read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
        try:
            saved = torch.load(io.BytesIO(raw), map_location=self.device, weights_only=True)
        except Exception as error:
            raise CheckpointError(
                f"TopLevelModule.load({str(path)!r}): the file is not a checkpoint this module "
                f"can load safely ({type(error).__name__}: {str(error).splitlines()[0]}); "
                "files written by the t3w package itself hold pickled numpy state; re-save "
                "them with unitrain, or load their 'model' entry yourself if you trust them"
            ) from None
        self.training_progress.load(saved["training_progress"])
        result = self.user_model.load_state_dict(saved["model"], strict=strict)
        if self.optim is not None and saved.get("optim") is not None:
            self.optim.load_state_dict(saved["optim"])
        if self.lr_scheduler is not None and saved.get("lr_scheduler") is not None:
            self.lr_scheduler.load_state_dict(saved["lr_scheduler"])
        seed = saved.get("data_seed")
        self.data_seed = None if seed is None else int(seed)
        restore_rng(saved["random_states"])  # last: loading the others may draw numbers
        return result
