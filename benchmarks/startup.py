"""Startup: how long ``unitrain fit`` takes to reach its first step, against a plain script.

Three commands, each a fresh process, on the tiny job of ``_startup_job.py`` (a 64-128-10
MLP, one batch of 64, AdamW, one step):

- **plain**: ``python _startup_plain.py``: ``import torch``, build the model and the batch,
  one optimizer step (what a hand-written script does before its first step);
- **fit**: ``python -m unitrain fit CONFIG --plain`` with ``trainer.max_steps = 1`` and
  the default run settings (run folder, metrics, a checkpoint per epoch, progress lines);
- **import**: ``python -c "import unitrain"``.

Both training commands print ``FIRST_STEP <time.monotonic()> <time.process_time()>`` when
their first step has ended (the task's ``on_train_step_end`` under ``unitrain fit``);
``time.monotonic`` is one clock for every process of the machine, so the time to the first
step is that stamp minus the moment this script started the process. The CPU time the
process used until then is the second number: on a machine shared with other work the wall
time stretches with the load, the CPU time much less, so both are reported. The whole wall
time (to the process's exit: ``fit`` also writes its final checkpoint and weights) is
reported beside them.

Paired, as the other benchmarks: each repeat runs plain, fit, plain again and import, in
an order rotated from repeat to repeat; the ratio of fit to the plain run just before it
is one sample, and the second plain run over the first is the noise floor (the baseline
paired with itself). Medians over repeats, with the lowest and highest sample. A first
round of every command warms the page cache and is dropped.

``--importtime`` also runs both training commands once under ``python -X importtime`` and
lists, by self time, what ``fit`` imports that the plain script does not (grouped by
package): where the time beyond torch goes. ``--smoke`` is one repeat without the warm-up
round, for CI: its figures mean nothing, it shows that every command runs.

``--split`` separates unitrain's own share from torch's: both training commands also run
in a process that first imports ``torch`` and ``torch._dynamo`` (the optimizer's
constructor imports it; both commands pay it) and prints ``TORCH_READY``; the command's
time from there to its first step, less the plain script's, is what unitrain adds
(imports of pydantic, rich and its own modules, the config checks, the trainer, the run
folder). It varies far less than the whole process, whose time is mostly torch's import.
``--against TREE`` times another checkout's unitrain the same way in every repeat (say,
main before a change), paired with this one.

Final lines: ``startup_ratio`` (fit ÷ plain, wall time to the first step),
``startup_noise_floor``, ``startup_cpu_ratio`` and ``startup_cpu_noise_floor`` (the same in
CPU time), ``startup_total_ratio`` (wall time to the exit), ``plain_first_step_s``,
``fit_first_step_s``, ``import_unitrain_s``, ``python_s`` (``python -c pass``); with
``--split`` ``own_cpu_ms``, ``own_wall_ms``, ``own_cpu_ratio`` (``against_own_cpu_ms`` with
``--against``); with ``--importtime`` ``extra_import_ms``.
Run: ``python benchmarks/startup.py`` (``--repeats 11``).
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
JOB = HERE / "_startup_job.py"
PLAIN = HERE / "_startup_plain.py"
STAMP = re.compile(r"^FIRST_STEP (\S+) (\S+)$", re.MULTILINE)
READY = re.compile(r"^TORCH_READY (\S+) (\S+)$", re.MULTILINE)
# --split: torch and torch._dynamo (which the optimizer's constructor imports) loaded first,
# stamped, then the plain script or the command in the same process
PRELOAD = (
    "import time, torch, torch._dynamo\n"
    "print(f'TORCH_READY {time.monotonic():.6f} {time.process_time():.6f}', flush=True)\n"
    "import runpy, sys\n"
)
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$", re.MULTILINE)

CONFIG = """\
# written by benchmarks/startup.py: the tiny job, one step, the default run settings
task = "{job}:make_task"
data = "{job}:make_data"

[trainer]
max_steps = 1
device = "cpu"

[run]
root = "{root}"
experiment = "startup"
seed = 0
"""


@dataclass(frozen=True)
class Timing:
    """One process: seconds from its start to its first step's end (``nan``: no step) and
    to its exit, and the CPU seconds it had used at its first step."""

    first: float
    total: float
    first_cpu: float
    ready: float = math.nan  # --split: the moment torch was loaded, and the CPU time until then
    ready_cpu: float = math.nan


def environment(root: Path = ROOT) -> dict[str, str]:
    """One thread, the source tree ``root`` (default: this one) first on the path (the
    command and its subprocesses).

    Bytecode is written and used (the first, dropped round writes it), as for an installed
    unitrain (pip compiles it): with ``PYTHONDONTWRITEBYTECODE`` set, every run would compile
    unitrain's modules from source, and the plain script, which imports none, would not.
    """
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    env.pop("UNITRAIN_PLUGINS", None)  # the benchmark's config says which plugins run
    return env


def run(command: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[Timing, str, str]:
    """Start ``command``, wait for it; the timing, its stdout and its stderr."""
    start = time.monotonic()
    finished = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=600
    )
    total = time.monotonic() - start
    if finished.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {finished.returncode}:\n{finished.stderr[-3000:]}"
        )
    found = STAMP.search(finished.stdout)
    if found is None:
        return Timing(math.nan, total, math.nan), finished.stdout, finished.stderr
    first, cpu = float(found.group(1)) - start, float(found.group(2))
    ready = READY.search(finished.stdout)
    if ready is None:
        return Timing(first, total, cpu), finished.stdout, finished.stderr
    at, ready_cpu = float(ready.group(1)) - start, float(ready.group(2))
    return Timing(first, total, cpu, at, ready_cpu), finished.stdout, finished.stderr


def commands(config: Path) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "plain": [python, str(PLAIN)],
        "fit": [python, "-m", "unitrain", "fit", str(config), "--plain"],
        "import": [python, "-c", "import unitrain"],
        "python": [python, "-c", "pass"],
        "plain_after_torch": [
            python,
            "-c",
            PRELOAD + f"sys.path.insert(0, {str(HERE)!r})\n"
            f"runpy.run_path({str(PLAIN)!r}, run_name='__main__')\n",
        ],
        "fit_after_torch": [
            python,
            "-c",
            PRELOAD + f"sys.argv = ['unitrain', 'fit', {str(config)!r}, '--plain']\n"
            "runpy.run_module('unitrain', run_name='__main__', alter_sys=True)\n",
        ],
    }


def measure(
    repeats: int,
    config: Path,
    env: dict[str, str],
    cwd: Path,
    *,
    warm_up: bool = True,
    split: bool = False,
    against: dict[str, str] | None = None,
) -> dict[str, list[Timing]]:
    """Every command once per repeat, rotated; ``plain2`` is the plain script again, and
    ``against`` the environment of another source tree for ``fit_after_torch_against``."""
    cases = commands(config)
    case_of = {"plain2": "plain", "fit_after_torch_against": "fit_after_torch"}
    env_of = {"fit_after_torch_against": against or env}
    order = ["plain", "fit", "plain2", "import", "python"]
    if split:
        order += ["plain_after_torch", "fit_after_torch"]
    if split and against is not None:
        order.append("fit_after_torch_against")
    timings: dict[str, list[Timing]] = {name: [] for name in order}
    # repeat -1 warms the page cache, writes the bytecode, and is dropped
    for repeat in range(-1 if warm_up else 0, repeats):
        shift = max(repeat, 0) % len(order)
        for name in order[shift:] + order[:shift]:
            timing = run(cases[case_of.get(name, name)], env_of.get(name, env), cwd)[0]
            if repeat >= 0:
                timings[name].append(timing)
        if repeat >= 0:
            fit, plain = timings["fit"][-1], timings["plain"][-1]
            print(
                f"repeat {repeat + 1}/{repeats}: first step: plain {plain.first:.3f} s "
                f"(cpu {plain.first_cpu:.3f}), fit {fit.first:.3f} s (cpu {fit.first_cpu:.3f}), "
                f"ratio {fit.first / plain.first:.3f} (cpu {fit.first_cpu / plain.first_cpu:.3f})",
                flush=True,
            )
    return timings


def paired(cases: Sequence[float], bases: Sequence[float]) -> list[float]:
    """Per repeat: a case over the base measured next to it."""
    return [case / base for case, base in zip(cases, bases, strict=True)]


def own_share(timings: dict[str, list[Timing]], plain_cpu: Sequence[float]) -> dict[str, float]:
    """``--split``: what unitrain adds after torch is loaded, per repeat (the command's time
    from torch loaded to its first step, less the plain script's), in CPU and wall ms, and
    the CPU ratio it implies against the whole plain script measured in the same repeat."""
    plain = timings["plain_after_torch"]

    def own(fit: Sequence[Timing]) -> tuple[list[float], list[float]]:
        pairs = list(zip(fit, plain, strict=True))
        cpu = [(f.first_cpu - f.ready_cpu) - (p.first_cpu - p.ready_cpu) for f, p in pairs]
        wall = [(f.first - f.ready) - (p.first - p.ready) for f, p in pairs]
        return cpu, wall

    cpu, wall = own(timings["fit_after_torch"])
    implied = [1 + extra / base for extra, base in zip(cpu, plain_cpu, strict=True)]
    rows = [("unitrain's own CPU time", cpu), ("unitrain's own wall time", wall)]
    other = timings.get("fit_after_torch_against")
    if other is not None:
        other_cpu = own(other)[0]
        less = [a - b for a, b in zip(cpu, other_cpu, strict=True)]
        rows += [("--against tree: own CPU time", other_cpu), ("this tree - against (CPU)", less)]
    print("\n--split: after torch is loaded, to the first step (ms), medians (lowest - highest)")
    for label, values in rows:
        median, low, high = summary([1000 * v for v in values])
        print(f"{label:34s} {median:8.1f}  ({low:.1f} - {high:.1f})")
    median, low, high = summary(implied)
    print(f"{'1 + own CPU ÷ plain CPU':34s} {median:8.3f}  ({low:.3f} - {high:.3f})")
    values = {
        "own_cpu_ms": 1000 * statistics.median(cpu),
        "own_wall_ms": 1000 * statistics.median(wall),
        "own_cpu_ratio": statistics.median(implied),
    }
    if other is not None:
        values["against_own_cpu_ms"] = 1000 * statistics.median(own(other)[0])
    return values


def summary(values: Sequence[float]) -> tuple[float, float, float]:
    """Median, lowest, highest."""
    return statistics.median(values), min(values), max(values)


def extra_imports(plain_err: str, fit_err: str, top: int) -> list[tuple[float, str, int]]:
    """``-X importtime`` of both: self time (ms) of what only ``fit`` imports, by package
    (``unitrain.<subpackage>``, else the top-level name), largest first, with module counts."""
    plain = {m.group(4) for m in IMPORT_LINE.finditer(plain_err)}
    groups: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    for found in IMPORT_LINE.finditer(fit_err):
        name = found.group(4)
        if name in plain:
            continue
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0] in ("unitrain", "torch") else parts[0]
        groups[key] += int(found.group(1))
        counts[key] += 1
    return [(us / 1000, key, counts[key]) for key, us in groups.most_common(top)]


def print_importtime(config: Path, env: dict[str, str], cwd: Path, top: int) -> float:
    cases = commands(config)
    _, _, plain_err = run([sys.executable, "-X", "importtime", *cases["plain"][1:]], env, cwd)
    _, _, fit_err = run([sys.executable, "-X", "importtime", *cases["fit"][1:]], env, cwd)
    rows = extra_imports(plain_err, fit_err, top)
    every = extra_imports(plain_err, fit_err, 10_000)
    total = sum(ms for ms, _, _ in every)
    print(f"\nimported by fit, not by the plain script: {total:.0f} ms self time")
    print(f"{'ms':>8}  {'modules':>7}  package")
    for ms, key, count in rows:
        print(f"{ms:8.1f}  {count:7d}  {key}")
    return total


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--smoke", action="store_true", help="one repeat, no warm-up round (CI): numbers only"
    )
    parser.add_argument(
        "--importtime", action="store_true", help="also list what fit imports beyond torch"
    )
    parser.add_argument("--top", type=int, default=15, help="rows of the --importtime list")
    parser.add_argument(
        "--split",
        action="store_true",
        help="also time both with torch loaded first: unitrain's own share of the startup",
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="TREE",
        help="with --split: also time another checkout's unitrain (e.g. main), paired",
    )
    args = parser.parse_args(argv)
    repeats = 1 if args.smoke else args.repeats
    env = environment()
    with tempfile.TemporaryDirectory(prefix="unitrain-startup-") as folder:
        work = Path(folder)
        config = work / "startup.toml"
        config.write_text(CONFIG.format(job=JOB, root=work / "runs"), encoding="utf-8")
        against = environment(args.against.resolve()) if args.against else None
        timings = measure(
            repeats,
            config,
            env,
            work,
            warm_up=not args.smoke,
            split=args.split or against is not None,
            against=against,
        )
        extra = print_importtime(config, env, work, args.top) if args.importtime else None
    first = {name: [t.first for t in ts] for name, ts in timings.items()}
    cpu = {name: [t.first_cpu for t in ts] for name, ts in timings.items()}
    total = {name: [t.total for t in ts] for name, ts in timings.items()}
    ratio = paired(first["fit"], first["plain"])
    floor = paired(first["plain2"], first["plain"])
    cpu_ratio = paired(cpu["fit"], cpu["plain"])
    cpu_floor = paired(cpu["plain2"], cpu["plain"])
    total_ratio = paired(total["fit"], total["plain"])
    rows = [
        ("fit ÷ plain, to the first step", summary(ratio)),
        ("plain ÷ plain (noise floor)", summary(floor)),
        ("fit ÷ plain, CPU time", summary(cpu_ratio)),
        ("plain ÷ plain, CPU time (floor)", summary(cpu_floor)),
        ("fit ÷ plain, to the exit", summary(total_ratio)),
        ("plain: first step (s)", summary(first["plain"])),
        ("fit: first step (s)", summary(first["fit"])),
        ("plain: CPU at first step (s)", summary(cpu["plain"])),
        ("fit: CPU at first step (s)", summary(cpu["fit"])),
        ("plain: exit (s)", summary(total["plain"])),
        ("fit: exit (s)", summary(total["fit"])),
        ("python -c 'import unitrain' (s)", summary(total["import"])),
        ("python -c pass (s)", summary(total["python"])),
    ]
    print(f"\n{repeats} repeats, medians (lowest - highest)")
    for label, (median, low, high) in rows:
        print(f"{label:34s} {median:8.3f}  ({low:.3f} - {high:.3f})")
    values = {
        "startup_ratio": statistics.median(ratio),
        "startup_noise_floor": statistics.median(floor),
        "startup_cpu_ratio": statistics.median(cpu_ratio),
        "startup_cpu_noise_floor": statistics.median(cpu_floor),
        "startup_total_ratio": statistics.median(total_ratio),
        "plain_first_step_s": statistics.median(first["plain"]),
        "fit_first_step_s": statistics.median(first["fit"]),
        "import_unitrain_s": statistics.median(total["import"]),
        "python_s": statistics.median(total["python"]),
    }
    if "fit_after_torch" in timings:
        values.update(own_share(timings, cpu["plain"]))
    if extra is not None:
        values["extra_import_ms"] = extra
    print()
    for name, value in values.items():
        print(f"{name}={value:.4f}")
    return values


if __name__ == "__main__":
    main()
