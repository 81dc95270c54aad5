"""Device strings: ``"cpu"``, ``"cpu:2"``, ``"cuda:0,1"``, ``"cuda:0-3"``, ``"cuda:0-3,5"``.

A device string names where a run goes and how many processes it needs: one process per
listed CUDA device, or ``N`` processes on the CPU for ``"cpu:N"``. ``"cuda"`` alone means every
visible CUDA device, ``"cuda:1"`` one device (one process), ``"cpu"`` one CPU process. An int
``N`` means ``N`` processes on CUDA when available, else on the CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from unitrain.errors import ConfigError

__all__ = ["DeviceSpec", "parse_devices"]

_FORM = re.compile(r"^(cpu|cuda)(?::([0-9,\- ]+))?$")
_HELP = (
    "expected 'cpu', 'cpu:N' (N processes), 'cuda', 'cuda:I', 'cuda:I,J', 'cuda:I-K' or a mix "
    "such as 'cuda:0-3,5', or an int (number of processes)"
)


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """Where each process of a run goes: ``type`` ("cpu" | "cuda") and one entry per process.

    For CUDA, ``indices[i]`` is the device of local rank ``i``; for the CPU the entries are
    ``0 .. N-1`` and only their number matters.
    """

    type: str
    indices: tuple[int, ...]

    @property
    def world_size(self) -> int:
        """The number of processes on this node."""
        return len(self.indices)

    @property
    def backend(self) -> str:
        """The process-group backend for this device type: nccl on CUDA, gloo on the CPU."""
        return "nccl" if self.type == "cuda" else "gloo"

    def device_for(self, local_rank: int) -> torch.device:
        """The device of one local rank."""
        if not 0 <= local_rank < len(self.indices):
            raise ConfigError(
                f"local rank {local_rank} has no device in {self}: it lists "
                f"{len(self.indices)} device(s); give one device per process on this node"
            )
        if self.type == "cpu":
            return torch.device("cpu")
        return torch.device("cuda", self.indices[local_rank])

    def check_available(self) -> None:
        """Raise a ConfigError when CUDA devices are asked for but not there."""
        if self.type != "cuda":
            return
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        missing = [i for i in self.indices if i >= count]
        if missing:
            raise ConfigError(
                f"devices={str(self)!r}: CUDA device(s) {missing} do not exist (torch sees "
                f"{count} CUDA device(s)); use 'cpu:{len(self.indices)}' to run on the CPU"
            )

    def __str__(self) -> str:
        if self.type == "cpu":
            return "cpu" if len(self.indices) == 1 else f"cpu:{len(self.indices)}"
        return "cuda:" + ",".join(str(i) for i in self.indices)


def parse_devices(devices: str | int | DeviceSpec) -> DeviceSpec:
    """Parse a device string (see the module docstring); raise ConfigError on bad input."""
    if isinstance(devices, DeviceSpec):
        return devices
    if isinstance(devices, int) and not isinstance(devices, bool):
        if devices < 1:
            raise ConfigError(f"devices={devices}: the number of processes must be >= 1")
        kind = "cuda" if torch.cuda.is_available() else "cpu"
        return DeviceSpec(kind, tuple(range(devices)))
    if not isinstance(devices, str):
        raise ConfigError(f"devices={devices!r}: got {type(devices).__name__}; {_HELP}")
    match = _FORM.match(devices.strip().lower())
    if match is None:
        raise ConfigError(f"devices={devices!r} is not a device string; {_HELP}")
    kind, listed = match.group(1), match.group(2)
    if listed is None:
        if kind == "cpu":
            return DeviceSpec("cpu", (0,))
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"devices={devices!r}: torch sees no CUDA device; use 'cpu:N'")
        return DeviceSpec("cuda", tuple(range(count)))
    if kind == "cpu":
        if not listed.strip().isdigit() or int(listed) < 1:
            raise ConfigError(
                f"devices={devices!r}: for the CPU give a process count, e.g. 'cpu:2'"
            )
        return DeviceSpec("cpu", tuple(range(int(listed))))
    return DeviceSpec("cuda", _indices(devices, listed))


def _indices(devices: str, listed: str) -> tuple[int, ...]:
    indices: list[int] = []
    for part in listed.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ConfigError(f"devices={devices!r}: {part!r} is not an index or a range I-K")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ConfigError(f"devices={devices!r}: range {part!r} runs backwards; write low-high")
        indices.extend(range(first, last + 1))
    repeated = sorted({i for i in indices if indices.count(i) > 1})
    if repeated:
        raise ConfigError(f"devices={devices!r}: device(s) {repeated} listed twice")
    return tuple(indices)
