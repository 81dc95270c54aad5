"""Instructions of chosen regions of one process, counted by valgrind's callgrind.

The worker brackets each region with two calls into a tiny C library built from
``<valgrind/callgrind.h>`` (client requests): zero the counters and switch collection on;
switch it off and write one profile. Callgrind runs with ``--collect-atstart=no``, so
imports and set-up are never counted, and one process (one slow import of torch under
valgrind) counts many regions, one profile each, in order. Outside valgrind the requests
do nothing. Every process gets the same ``PYTHONHASHSEED`` (string hashes decide
dictionary collisions: see ``instructions.py``). Needs ``valgrind`` and a C compiler.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["available", "count_regions", "region"]

_SHIM = "UNITRAIN_CALLGRIND_SHIM"
_SOURCE = """
#include <valgrind/callgrind.h>
void region_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_TOGGLE_COLLECT; }
void region_end(void) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS; }
"""
_library: ctypes.CDLL | None = None


def available() -> bool:
    """True when valgrind, its headers and a C compiler are there."""
    return (
        shutil.which("valgrind") is not None
        and shutil.which("cc") is not None
        and Path("/usr/include/valgrind/callgrind.h").is_file()
    )


def region(work: Callable[[], object]) -> None:
    """Run ``work`` as one counted region (a no-op bracket outside ``count_regions``)."""
    global _library
    path = os.environ.get(_SHIM)
    if path is None:
        work()
        return
    if _library is None:
        _library = ctypes.CDLL(path)
    _library.region_start()
    try:
        work()
    finally:
        _library.region_end()


def count_regions(arguments: Sequence[str], hash_seed: int = 0) -> list[int]:
    """Run ``python <arguments>`` under callgrind; the instructions of each region, in order."""
    with tempfile.TemporaryDirectory() as folder:
        source, shim = Path(folder) / "shim.c", Path(folder) / "shim.so"
        source.write_text(_SOURCE)
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(shim), str(source)], check=True)
        out = Path(folder) / "regions.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            *arguments,
        ]
        environment = {
            **os.environ,
            _SHIM: str(shim),
            "PYTHONHASHSEED": str(hash_seed),
            "OMP_NUM_THREADS": "1",
        }
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
