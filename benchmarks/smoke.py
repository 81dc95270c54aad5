"""Run every benchmark once in its smoke mode (tiny sizes, one repeat): for CI.

Every ``benchmarks/*.py`` that is a script (not a ``_helper`` module, not this file) and
whose source has a ``--smoke`` flag is run as ``python <script> --smoke`` in its own
process, one after the other, each with a time limit (``--timeout``). Scripts are found by
scanning for the flag, so a new benchmark joins as soon as it has one; a script without it
is listed as not run. Each script's output is printed as it was written (its figures mean
nothing at these sizes and on a shared machine: they are printed, never checked), then a
summary. The exit status is 1 when a script crashed (non-zero exit status, which includes a
failed bit-identity check: the benchmarks raise on a weight mismatch) or ran past its time
limit (a hang), else 0. A peer that is not installed (Ignite, Lightning, valgrind) is
skipped by the script itself, with its reason printed.

Run: ``python benchmarks/smoke.py`` (``--only NAME`` / ``--skip NAME`` to choose scripts,
``--list`` to list them).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLAG = "--smoke"


@dataclass
class Outcome:
    """How one script's smoke run ended."""

    name: str
    status: str  # "ok", "crashed", "timed out"
    seconds: float
    output: str
    returncode: int | None = None


def discover(folder: Path = HERE) -> tuple[list[Path], list[Path]]:
    """The benchmark scripts of ``folder`` with a ``--smoke`` flag, and those without."""
    scripts = sorted(
        path
        for path in folder.glob("*.py")
        if not path.name.startswith("_") and path.resolve() != Path(__file__).resolve()
    )
    with_flag = [path for path in scripts if f'"{FLAG}"' in path.read_text(encoding="utf-8")]
    return with_flag, [path for path in scripts if path not in with_flag]


def run_one(script: Path, timeout: float) -> Outcome:
    """``python <script> --smoke`` in its own process group (killed whole on time-out:
    a script's own children, valgrind say, go with it)."""
    environment = {**os.environ}
    environment.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, str(script), FLAG],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
        start_new_session=True,
    )
    try:
        output, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        output, _ = child.communicate()
        return Outcome(script.name, "timed out", time.perf_counter() - started, output)
    seconds = time.perf_counter() - started
    status = "ok" if child.returncode == 0 else "crashed"
    return Outcome(script.name, status, seconds, output, child.returncode)


def summary(outcomes: Sequence[Outcome], without: Sequence[Path], timeout: float) -> str:
    """The closing table: one line per script."""
    width = max([len(o.name) for o in outcomes] + [len(p.name) for p in without] + [6])
    lines = [f"{'script':<{width}}  result"]
    for outcome in outcomes:
        detail = {
            "ok": "ok",
            "crashed": f"CRASHED (exit status {outcome.returncode})",
            "timed out": f"TIMED OUT (limit {timeout:.0f} s)",
        }[outcome.status]
        lines.append(f"{outcome.name:<{width}}  {detail}, {outcome.seconds:.1f} s")
    for path in without:
        lines.append(f"{path.name:<{width}}  not run: no {FLAG} flag")
    total = sum(outcome.seconds for outcome in outcomes)
    failed = sum(outcome.status != "ok" for outcome in outcomes)
    lines.append(f"{len(outcomes)} run, {failed} failed, {total:.1f} s in all")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, folder: Path = HERE) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=600, help="seconds per script")
    parser.add_argument("--only", action="append", default=[], metavar="NAME")
    parser.add_argument("--skip", action="append", default=[], metavar="NAME")
    parser.add_argument("--list", action="store_true", help="list the scripts and stop")
    args = parser.parse_args(argv)
    with_flag, without = discover(folder)
    known = {path.stem for path in with_flag}
    for name in [*args.only, *args.skip]:
        if name.removesuffix(".py") not in known:
            parser.error(f"{name!r} is not a benchmark with {FLAG}: {', '.join(sorted(known))}")
    only = {name.removesuffix(".py") for name in args.only}
    skip = {name.removesuffix(".py") for name in args.skip}
    chosen = [p for p in with_flag if (not only or p.stem in only) and p.stem not in skip]
    if args.list:
        print("\n".join(path.name for path in chosen))
        return 0
    outcomes = []
    for script in chosen:
        print(f"=== {script.name} {FLAG}", flush=True)
        outcome = run_one(script, args.timeout)
        print(outcome.output.rstrip("\n"))
        print(f"=== {script.name}: {outcome.status} in {outcome.seconds:.1f} s\n", flush=True)
        outcomes.append(outcome)
    print(summary(outcomes, without, args.timeout))
    return 1 if any(outcome.status != "ok" for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
