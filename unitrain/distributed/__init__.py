"""Distributed training on torch.distributed: one script from one process to many nodes.

- :func:`launch` runs a function once per device of a device string (``"cpu:2"``,
  ``"cuda:0,1"``, ``"cuda:0-3,5"``) on a free port; a failing rank stops all of them and is
  reported with its traceback (:class:`~unitrain.errors.WorkerError`).
- ``Trainer(..., devices="cpu:2", strategy="ddp" | "fsdp" | DDPStrategy(...))`` trains that
  way from a plain script; under torchrun / srun the same script joins the launcher's group.
- :class:`DDPStrategy` / :class:`FSDPStrategy` say how the model is spread;
  :func:`parse_devices` reads device strings; :func:`detect_env` reads the rank variables.
- :func:`full_state_dict` (every rank's random state in a checkpoint; under FSDP2 the full
  model and optimizer state, gathered), :func:`save_sharded` / :func:`load_sharded` (sharded
  checkpoints through ``torch.distributed.checkpoint``, committed with a manifest).
- ``Trainer(hang_timeout=...)``: the watchdog that stops every rank when one is stuck;
  ``trainer.predict(data, gather=True)``: every rank's predictions in the data's order.

See ``docs/distributed.md``.
"""

from typing import TYPE_CHECKING

from unitrain.lazy import lazy_exports

if TYPE_CHECKING:
    from unitrain.distributed.checkpoint import load_sharded, save_sharded
    from unitrain.distributed.devices import DeviceSpec, parse_devices
    from unitrain.distributed.env import DistEnv, detect_env, free_port
    from unitrain.distributed.launcher import launch
    from unitrain.distributed.plugin import DistributedPlugin, full_state_dict
    from unitrain.distributed.strategy import DDPStrategy, FSDPStrategy, Strategy

# Names load on first use (PEP 562): the trainer imports this package in every run, and a
# single process needs none of the launcher (torch.distributed.elastic) or the plugins.
_LAZY = {
    "DDPStrategy": "unitrain.distributed.strategy",
    "DeviceSpec": "unitrain.distributed.devices",
    "DistEnv": "unitrain.distributed.env",
    "DistributedPlugin": "unitrain.distributed.plugin",
    "FSDPStrategy": "unitrain.distributed.strategy",
    "Strategy": "unitrain.distributed.strategy",
    "detect_env": "unitrain.distributed.env",
    "free_port": "unitrain.distributed.env",
    "full_state_dict": "unitrain.distributed.plugin",
    "launch": "unitrain.distributed.launcher",
    "load_sharded": "unitrain.distributed.checkpoint",
    "parse_devices": "unitrain.distributed.devices",
    "save_sharded": "unitrain.distributed.checkpoint",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "DDPStrategy",
    "DeviceSpec",
    "DistEnv",
    "DistributedPlugin",
    "FSDPStrategy",
    "Strategy",
    "detect_env",
    "free_port",
    "full_state_dict",
    "launch",
    "load_sharded",
    "parse_devices",
    "save_sharded",
]
