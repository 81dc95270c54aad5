"""Capture and restore every random number generator, as weights-only-safe data.

A snapshot holds the Python ``random`` state (a list of ints), the numpy global state (plain
lists, so ``torch.load(weights_only=True)`` needs no numpy allowlist), the torch CPU state and
one state per CUDA device (``uint8`` tensors). Capture it before other objects serialise
themselves and restore it after everything else, because ``state_dict`` /
``load_state_dict`` of other objects may draw random numbers (torchsnapshot's invariant).
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from unitrain.errors import UnitrainWarning

__all__ = [
    "capture_rng",
    "generator_state",
    "preserved_rng",
    "restore_rng",
    "set_generator_state",
]

_np: Any
try:  # numpy is optional: torch works without it
    import numpy as _np
except ImportError:  # pragma: no cover - numpy is installed wherever torch wheels are
    _np = None


def capture_rng() -> dict[str, Any]:
    """Every global RNG of this process: python, numpy, torch CPU, torch CUDA (per device)."""
    version, internal, gauss = random.getstate()
    snapshot: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "torch": torch.get_rng_state(),
    }
    if _np is not None:
        kind, keys, pos, has_gauss, cached = _np.random.get_state(legacy=True)
        snapshot["numpy"] = {
            "kind": str(kind),
            "keys": keys.tolist(),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        snapshot["cuda"] = torch.cuda.get_rng_state_all()
    return snapshot


def restore_rng(snapshot: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng` returned (missing parts are left as they are)."""
    python = snapshot.get("python")
    if python is not None:
        random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    numpy_state = snapshot.get("numpy")
    if numpy_state is not None and _np is not None:
        _np.random.set_state(
            (
                numpy_state["kind"],
                _np.asarray(numpy_state["keys"], dtype=_np.uint32),
                numpy_state["pos"],
                numpy_state["has_gauss"],
                numpy_state["cached_gaussian"],
            )
        )
    cpu = snapshot.get("torch")
    if cpu is not None:
        torch.set_rng_state(cpu)
    cuda = snapshot.get("cuda")
    if cuda is not None and torch.cuda.is_available():
        if len(cuda) != torch.cuda.device_count():
            warnings.warn(
                f"the checkpoint holds CUDA RNG states for {len(cuda)} device(s), this process "
                f"sees {torch.cuda.device_count()}; CUDA random streams start fresh",
                UnitrainWarning,
                stacklevel=2,
            )
        else:
            torch.cuda.set_rng_state_all(cuda)


def generator_state(generator: torch.Generator | None) -> torch.Tensor | None:
    """The state of a ``torch.Generator`` (a CPU ``uint8`` tensor), or None."""
    return None if generator is None else generator.get_state()


def set_generator_state(generator: torch.Generator | None, saved: torch.Tensor | None) -> None:
    """Restore a generator's state saved by :func:`generator_state`."""
    if generator is not None and saved is not None:
        generator.set_state(saved)


@contextmanager
def preserved_rng() -> Iterator[dict[str, Any]]:
    """Run a block without moving any global RNG: restore the snapshot afterwards."""
    saved = capture_rng()
    try:
        yield saved
    finally:
        restore_rng(saved)
