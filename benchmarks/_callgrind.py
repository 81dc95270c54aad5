"""Instructions of chosen regions of one process, counted by valgrind's callgrind.

A worker runs each region as ``functools.reduce(lambda _, __: region(), [0], None)``: the
C function ``functools_reduce`` then brackets exactly that region, and callgrind runs with
``--collect-atstart=no --toggle-collect=functools_reduce --dump-after=functools_reduce``,
so it counts instructions only inside the regions and writes one profile per region, in
order. Imports and set-up are never counted, and one process (one slow import of torch
under valgrind) can count many regions. Every process gets the same ``PYTHONHASHSEED``
(string hashes decide dictionary collisions: see ``instructions.py``).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["available", "count_regions", "region"]


def available() -> bool:
    """True when valgrind is on the PATH."""
    return shutil.which("valgrind") is not None


def region(work: Callable[[], object]) -> None:
    """Run ``work`` as one counted region (inside ``functools_reduce``)."""
    functools.reduce(lambda _, __: work(), [0], None)


def count_regions(arguments: Sequence[str], hash_seed: int = 0) -> list[int]:
    """Run ``python <arguments>`` under callgrind; the instructions of each region, in order."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "regions.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
            "--dump-after=functools_reduce",
            f"--callgrind-out-file={out}",
            sys.executable,
            *arguments,
        ]
        environment = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "OMP_NUM_THREADS": "1"}
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
        if done.returncode != 0:
            raise SystemExit(f"callgrind run failed:\n{done.stderr[-3000:]}")
        dumps = sorted(
            Path(folder).glob("regions.out.*"), key=lambda path: int(path.suffix.lstrip("."))
        )
        counts = []
        for dump in dumps:
            found = re.search(r"^totals:\s+(\d+)", dump.read_text(), flags=re.MULTILINE)
            if found is None:
                raise SystemExit(f"no totals in callgrind's profile {dump.name}")
            counts.append(int(found.group(1)))
    return counts
