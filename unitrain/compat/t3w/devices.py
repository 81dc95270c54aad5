"""t3w device strings: one device (``"cpu"``, ``"cuda:1"``) or several (a distributed run).

Accepted forms: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (one device); ``"cuda:0,1"``,
``"cuda:0-3"``, ``"cuda:0-1,3"`` (several GPUs); ``"cpu:N"`` (N CPU processes, N >= 2;
``"cpu:1"`` is one process); a ``torch.device`` or an int (a CUDA index) is one device.
"""

from __future__ import annotations

import re

import torch

from unitrain.errors import ConfigError

__all__ = ["parse_devices"]

_FORM = re.compile(r"^(?P<kind>cpu|cuda)(?::(?P<spec>.*))?$")
_PART = re.compile(r"^(?P<start>\d+)(?:-(?P<end>\d+))?$")
_FORMS = "'cpu', 'cuda', 'cuda:1', 'cuda:0,1', 'cuda:0-3', 'cuda:0-1,3' or 'cpu:2'"


def parse_devices(device: str | int | torch.device) -> list[torch.device]:
    """The devices a device string names, in order; a ConfigError for a malformed string."""
    if isinstance(device, torch.device):
        return [device]
    if isinstance(device, int) and not isinstance(device, bool):
        return [torch.device("cuda", device)]
    if not isinstance(device, str):
        raise ConfigError(
            f"TopLevelModule.to({device!r}): expected a device string such as {_FORMS}, "
            f"a torch.device or a CUDA index, got {type(device).__name__}"
        )
    match = _FORM.match(device.strip())
    if match is None:
        raise _malformed(device, "the device type must be 'cpu' or 'cuda'")
    kind, spec = match["kind"], match["spec"]
    if spec is None:
        return [torch.device(kind)]
    if kind == "cpu":
        if not spec.isdigit() or int(spec) < 1:
            raise _malformed(device, "'cpu:N' needs a process count N >= 1")
        return [torch.device("cpu")] * int(spec)
    indices: list[int] = []
    for part in spec.split(","):
        found = _PART.match(part.strip())
        if found is None:
            raise _malformed(device, f"{part!r} is neither an index nor a range 'a-b'")
        start = int(found["start"])
        end = int(found["end"]) if found["end"] is not None else start
        if end < start:
            raise _malformed(device, f"the range {part!r} runs backwards")
        indices.extend(range(start, end + 1))
    if len(set(indices)) != len(indices):
        raise _malformed(device, "a device index is listed twice")
    return [torch.device("cuda", index) for index in indices]


def _malformed(device: str, why: str) -> ConfigError:
    return ConfigError(
        f"TopLevelModule.to({device!r}): malformed device string ({why}); expected one of {_FORMS}"
    )
