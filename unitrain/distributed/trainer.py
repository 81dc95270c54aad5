"""What the :class:`~unitrain.Trainer` does differently when several processes take part.

Three ways to run the same script:

- **one process**: nothing here is active (the data is not split, no plugin is added);
- **under a launcher** (torchrun, ``srun``, or :func:`~unitrain.distributed.launch`): the
  environment names this process's rank; the trainer joins the process group, moves the model
  to the rank's device, wraps it with the strategy, splits the data, and registers the
  ``"distributed"`` plugin;
- **from a device string** (``Trainer(..., devices="cpu:2")`` in a plain process): ``fit`` and
  ``evaluate`` start one process per device, each building the same trainer from the
  arguments given to this one (so they must be picklable), and the results come back here:
  after ``fit`` this trainer holds rank 0's model, optimizers and metrics (under FSDP2 the
  full state, gathered: :mod:`unitrain.distributed.fsdp_checkpoint`).

Every rank also runs the hang watchdog (``Trainer(hang_timeout=...)``,
:mod:`unitrain.distributed.watchdog`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from unitrain.core.data import Loader
from unitrain.core.state import State
from unitrain.distributed.checkpoint import WorldSizeCheck, check_world_size
from unitrain.distributed.devices import DeviceSpec, parse_devices
from unitrain.distributed.env import DistEnv, detect_env
from unitrain.distributed.strategy import Strategy, make_strategy
from unitrain.distributed.watchdog import DEFAULT_HANG_TIMEOUT, WatchdogPlugin, check_hang_timeout
from unitrain.errors import ConfigError
from unitrain.runs.trainer_state import ALL_RANKS_STATE_DICT

if TYPE_CHECKING:
    from unitrain.core.engine import Engine

__all__ = ["Distributed"]


class Distributed:
    """The trainer's distributed side; a no-op in a single process.

    Made first thing in ``Trainer.__init__`` (so that ranks from SLURM are in the
    environment before the trainer reads them), then :meth:`setup` once the plugins are in.
    ``factory`` is the trainer class each spawned rank builds from ``recipe`` (its
    arguments).
    """

    def __init__(
        self,
        devices: str | int | DeviceSpec | None,
        strategy: str | Strategy | None,
        recipe: dict[str, Any],
        factory: Callable[..., Engine],
    ) -> None:
        self.env: DistEnv = detect_env()
        _export_ranks(self.env)
        self.spec = None if devices is None else parse_devices(devices)
        self.strategy = make_strategy(strategy)
        self.hang_timeout = check_hang_timeout(recipe.get("hang_timeout", DEFAULT_HANG_TIMEOUT))
        self.factory = factory
        accepted = set(inspect.signature(factory).parameters)
        self.recipe = {key: value for key, value in recipe.items() if key in accepted}
        self.added: list[tuple[object, str | None, int | None, Any]] = []
        self.spawns = (
            self.spec is not None and self.spec.world_size > 1 and not self.env.is_distributed
        )
        if self.spec is not None and recipe.get("device") is not None:
            raise ConfigError(
                f"Trainer: give device= (one device) or devices= (one process per device), "
                f"not both (got device={recipe['device']!r}, devices={devices!r})"
            )

    @property
    def active(self) -> bool:
        """True in a process that is one rank of several."""
        return self.env.is_distributed

    def setup(self, trainer: Engine) -> None:
        """Join the group, place and wrap the model, register the plugins (see the module)."""
        state = trainer.state
        if not self.active:
            trainer.plugins.register(WorldSizeCheck(state), name="distributed")
            if self.spec is not None:
                self.spec.check_available()
                state.device = self.spec.device_for(0)  # one device; or where predict runs
            return
        # imported here: a single process (every `unitrain fit` without a launcher) never
        # needs the process group, the wrapped model's plugin or the launcher
        from unitrain.distributed.group import ensure_process_group
        from unitrain.distributed.plugin import DistributedPlugin, full_state_dict

        state.device = self._rank_device(trainer)
        ensure_process_group(self.env, state.device)
        state.rank, state.local_rank = self.env.rank, self.env.local_rank
        state.world_size = self.env.world_size
        model = state.model
        assert model is not None
        model.to(state.device)
        wrapped = self.strategy.wrap(model, state.device)
        plugin = DistributedPlugin(state, self.strategy, trainer.task, model, wrapped)
        trainer.plugins.register(plugin, name="distributed")
        trainer.plugins.register(WatchdogPlugin(self.hang_timeout), name="watchdog")
        # what a checkpoint writer saves (on every rank at once): every rank's random state
        collect: Callable[[], dict[str, Any]] = partial(full_state_dict, trainer)
        state.stash[ALL_RANKS_STATE_DICT] = collect

    def shard(self, loader: Loader, train: bool) -> Loader:
        """This rank's share of ``loader`` (unchanged in one process or with shard_data=False)."""
        if not self.active or not self.strategy.shard_data:
            return loader
        from unitrain.distributed.sampling import shard_loader

        return shard_loader(loader, train, self.env.rank, self.env.world_size, self.strategy.seed)

    def gather(self, outputs: list[Any], whole: Loader) -> list[Any]:
        """Every rank's predictions of ``whole``, in its order (unchanged in one process)."""
        if not self.active or not self.strategy.shard_data:
            return outputs
        from unitrain.distributed.gather import gather_predictions

        return gather_predictions(outputs, whole, self.env.rank, self.env.world_size)

    def spawn_fit(self, trainer: Engine, *args: Any, **kwargs: Any) -> State:
        """Run ``fit`` in one process per device; this trainer then holds rank 0's result."""
        payload = self._spawn("fit", args, kwargs)[0]
        # this process was no rank of the run: the world-size entries do not apply here
        payload["checkpoint"].get("plugins", {}).pop("distributed", None)
        payload["checkpoint"].pop("rank_data_orders", None)  # rank 0's is "data_order"
        payload["checkpoint"]["world_size"] = trainer.state.world_size
        trainer.load_state_dict(payload["checkpoint"])
        state = trainer.state
        state.eval_metrics = payload["eval_metrics"]
        state.stop_requested, state.stop_reason = payload["stop"]
        state.epoch_length = payload["epoch_length"]
        return state

    def spawn_evaluate(self, data: object, split: str) -> dict[str, float]:
        """Run ``evaluate`` in one process per device; the metrics over all of ``data``."""
        metrics: dict[str, float] = self._spawn("evaluate", (data, split), {})[0]
        return metrics

    def _spawn(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        assert self.spec is not None
        from unitrain.distributed.launcher import launch

        return launch(
            _run_rank,
            self.spec,
            self.factory,
            self.recipe,
            self.added,
            method,
            args,
            kwargs,
            start_method=self.strategy.start_method,
        )

    def agree_on_resume(
        self, trainer: Engine, resume: str | os.PathLike[str] | None
    ) -> str | os.PathLike[str] | None:
        """Every rank resumes from the checkpoint rank 0 finds (``None``: start afresh).

        ``resume="latest"`` is looked up through the plugins that know checkpoint folders,
        and those usually run on rank 0 only; the other ranks would find nothing and start
        from scratch, out of step with rank 0.
        """
        if not self.active or resume is None or str(resume) != "latest":
            return resume
        from unitrain.runs.resume import find_resume_checkpoint

        found: list[str | None] = [None]
        if self.env.rank == 0:
            path = find_resume_checkpoint(trainer, resume)
            found[0] = None if path is None else str(path)
        dist.broadcast_object_list(found, src=0)
        return found[0]

    def check_checkpoint(self, trainer: Engine, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """Refuse a checkpoint written by another number of processes, before loading any of it;
        return what the engine loads (under FSDP2: this rank's shards of the full state).

        The size is the ``"distributed"`` plugin's entry, or else (that plugin's state was
        dropped) the engine's own ``checkpoint["world_size"]``: the one rule is to refuse.
        """
        saved = checkpoint.get("plugins", {}).get("distributed")
        if isinstance(saved, dict) and "world_size" in saved:
            check_world_size(int(saved["world_size"]), self.env.world_size)
        elif checkpoint.get("world_size") is not None:
            check_world_size(int(checkpoint["world_size"]), self.env.world_size)
        if self.active and self.strategy.name == "fsdp":
            return _shard_checkpoint(trainer, checkpoint)
        return checkpoint

    def _rank_device(self, trainer: Engine) -> torch.device:
        local = self.env.local_rank
        spec = self.spec
        if spec is None and "UNITRAIN_DEVICES" in os.environ:  # a rank of launch(fn, devices)
            spec = parse_devices(os.environ["UNITRAIN_DEVICES"])
        if spec is not None:
            if spec.world_size != self.env.local_world_size:
                raise ConfigError(
                    f"devices={str(spec)!r} lists {spec.world_size} device(s), but "
                    f"the launcher started {self.env.local_world_size} process(es) on this node; "
                    "make them agree (or leave devices= out under torchrun)"
                )
            return spec.device_for(local)
        device = trainer.config.device
        if device is not None and device not in ("cuda", "cpu"):
            raise ConfigError(
                f"device={device!r} names one device, but this is rank {self.env.rank} of "
                f"{self.env.world_size}: leave device= out (each rank then takes cuda:"
                "LOCAL_RANK, or the CPU), or give devices='cuda:0,1' to map local ranks"
            )
        if device == "cpu" or not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", local)


def _shard_checkpoint(trainer: Engine, checkpoint: dict[str, Any]) -> dict[str, Any]:
    # every rank loads together (a resume, or full_state_dict's result on every rank)
    from unitrain.distributed.fsdp_checkpoint import load_full_into_fsdp

    state = trainer.state
    assert state.model is not None
    trainer.make_optimizers()  # their state is sharded by the model's layout: they come first
    return load_full_into_fsdp(state.model, state.optimizers, checkpoint, state.rank)


def _export_ranks(env: DistEnv) -> None:
    # the trainer and its plugin manager read RANK / LOCAL_RANK / WORLD_SIZE; under srun
    # only SLURM_* are set, so publish them under the torch names
    if env.launcher == "slurm":
        for name, value in (
            ("RANK", env.rank),
            ("LOCAL_RANK", env.local_rank),
            ("WORLD_SIZE", env.world_size),
            ("LOCAL_WORLD_SIZE", env.local_world_size),
        ):
            os.environ.setdefault(name, str(value))


def _run_rank(
    factory: Callable[..., Engine],
    recipe: dict[str, Any],
    added: list[tuple[Any, ...]],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """One rank of a device-string run: the same trainer, built here, runs ``method``."""
    trainer = factory(**recipe)
    for plugin, name, order, ranks in added:
        trainer.add_plugin(plugin, name, order=order, ranks=ranks)
    run: Callable[..., Any] = getattr(trainer, method)
    result = run(*args, **kwargs)
    if method != "fit":
        return result
    from unitrain.distributed.plugin import full_state_dict

    checkpoint = full_state_dict(trainer)  # on every rank: it gathers across ranks
    if trainer.state.rank != 0:
        return None
    state = trainer.state
    return {
        "checkpoint": _to_cpu(checkpoint),
        "eval_metrics": state.eval_metrics,
        "stop": (state.stop_requested, state.stop_reason),
        "epoch_length": state.epoch_length,
    }


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value
