"""Instructions per step, counted by valgrind: a measure of overhead that load cannot disturb.

Timing on a shared machine drifts by several percent from one second to the next, more than
the overhead we want to see. Valgrind's cachegrind counts the instructions a process runs,
and simulates its caches, the same way every time. Each case (the raw loop of
``overhead.py``, unitrain bare, optionally Ignite's ``Engine``) runs in its own process
under cachegrind for E1 and for E2 epochs of the tiny MLP; the difference divided by
``(E2 − E1) · steps`` is the count per step, with imports and set-up cancelled, as in the
marginal-epoch method. Every process runs with the same ``PYTHONHASHSEED`` (``--hash-seed``):
string hashes decide dictionary collisions, and with a random seed per process the
imports alone differ by millions of instructions, which ``E2 − E1`` would not cancel.
Reported per step: instructions (``Ir``), first-level instruction and data cache misses
(``I1mr``, ``D1mr``), and each as a ratio to the raw loop.

Instructions are not time (a cache miss costs more than an add), but on this workload the
two move together, and a change of 1 % in the count is visible here where a timing would
need hundreds of repeats. Needs ``valgrind`` on the PATH (``apt install valgrind``); each
process takes a few minutes (importing torch under valgrind dominates), ``--jobs`` run side
by side. Final lines: ``instructions_ratio`` (unitrain ÷ raw), ``i1_miss_ratio``,
``d1_miss_ratio``, ``ignite_instructions_ratio`` (``nan`` unless ``--ignite``); with
``--plugins N`` also unitrain with N no-op plugins dealt over the styles (as in
``overhead.py``): ``plugins_instructions_ratio`` and ``per_listener_instructions`` (the
extra instructions per step over bare unitrain, per listener call a step adds).
Run: ``python benchmarks/instructions.py`` (``--quick``: instructions only, epochs 1 vs 2;
``--smoke``, for CI: each case once in-process, no valgrind).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from _common import (
    emit,
    ignite_step,
    make_batches,
    print_table,
    raw_loop,
    single_thread,
    tiny_mlp,
)
from torch import nn

CPU = torch.device("cpu")
EVENTS = {"Ir": "I   refs", "I1mr": "I1  misses", "D1mr": "D1  misses"}


def work(case: str, epochs: int, steps: int) -> None:
    """What one valgrind process runs: ``epochs`` epochs of ``case``."""
    single_thread()
    batches = make_batches(steps, 64, 32, 10, seed=0)
    model = tiny_mlp(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    if case == "raw loop":
        raw_loop(model, batches, epochs, optimizer, nn.CrossEntropyLoss(), CPU)
    elif case == "unitrain bare":
        import unitrain as ut

        task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=optimizer)
        ut.Trainer(task, max_epochs=epochs, eval_every_epochs=None, device="cpu").fit(batches)
    elif case.startswith("unitrain +"):  # "unitrain +N plugins"
        from _styles import noop_plugins

        import unitrain as ut

        plugins, _ = noop_plugins(int(case.split("+")[1].split()[0]))
        task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=optimizer)
        ut.Trainer(
            task, plugins=plugins, max_epochs=epochs, eval_every_epochs=None, device="cpu"
        ).fit(batches)
    elif case == "ignite Engine":
        from ignite.engine import Engine

        step = ignite_step(model, optimizer, nn.CrossEntropyLoss(), CPU)
        Engine(step).run(batches, max_epochs=epochs)
    else:
        raise SystemExit(f"unknown case {case!r}")


def smoke(ignite: bool) -> dict[str, float]:
    """What each valgrind process runs, run once in this process at 2 steps: the cases
    still work. No count: every valgrind process imports torch under valgrind, 1–2 CPU
    minutes each, and four of them ran past 10 minutes on a loaded 2-core machine."""
    cases = ["raw loop", "unitrain bare", *(["ignite Engine"] if ignite else [])]
    for case in cases:
        work(case, 1, 2)
        print(f"{case}: ran 1 epoch of 2 steps in-process")
    print("smoke mode: the valgrind count is skipped (minutes per process; run without --smoke)")
    emit({"instructions_ratio": math.nan})
    return {"instructions_ratio": math.nan}


def count(
    case: str, epochs: int, steps: int, hash_seed: int, folder: Path, cache_sim: bool = True
) -> dict[str, int]:
    """Run ``case`` under cachegrind; its event totals (instructions only without
    ``cache_sim``)."""
    out = folder / f"{case.replace(' ', '_')}.{epochs}.out"
    command = [
        "valgrind",
        "--tool=cachegrind",
        f"--cache-sim={'yes' if cache_sim else 'no'}",
        f"--cachegrind-out-file={out}",
        sys.executable,
        __file__,
        "--worker",
        case,
        str(epochs),
        "--steps",
        str(steps),
    ]
    # one string-hash seed for every process: with a random one, dictionary and set
    # collisions (and so the instructions of imports and of each lookup) differ from
    # process to process by millions of instructions, more than a step's overhead
    environment = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if finished.returncode != 0:
        raise SystemExit(f"{case} under valgrind failed:\n{finished.stderr[-2000:]}")
    totals = {}
    for key, label in EVENTS.items() if cache_sim else [("Ir", EVENTS["Ir"])]:
        found = re.search(rf"{label}:\s+([\d,]+)", finished.stderr)
        if found is None:
            raise SystemExit(f"no {label!r} in valgrind's report for {case}")
        totals[key] = int(found.group(1).replace(",", ""))
    return totals


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64, help="batches per epoch")
    parser.add_argument(
        "--epochs", type=int, nargs=2, default=None, metavar=("E1", "E2"), help="default 1 5"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="instructions only (no cache simulation), epochs 1 vs 2 unless --epochs: "
        "about a third of the full run's time, for iterating on a change",
    )
    parser.add_argument("--jobs", type=int, default=2, help="valgrind processes at a time")
    parser.add_argument("--hash-seed", type=int, default=0, help="PYTHONHASHSEED of each run")
    parser.add_argument("--ignite", action="store_true", help="count Ignite's Engine too")
    parser.add_argument("--plugins", type=int, default=0, help="count unitrain +N plugins too")
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "EPOCHS"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--smoke", action="store_true", help="CI: each case in-process, 2 steps; no valgrind"
    )
    args = parser.parse_args(argv)
    if args.worker:
        work(args.worker[0], int(args.worker[1]), args.steps)
        return {}
    if args.smoke:
        return smoke(args.ignite)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing to count (apt install valgrind)")
        emit({"instructions_ratio": math.nan})
        return {"instructions_ratio": math.nan}
    cases = ["raw loop", "unitrain bare", *(["ignite Engine"] if args.ignite else [])]
    if args.plugins:
        cases.append(f"unitrain +{args.plugins} plugins")
    first, last = args.epochs or ((1, 2) if args.quick else (1, 5))
    events = ["Ir"] if args.quick else list(EVENTS)
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(args.jobs) as pool:
        jobs = {
            (case, epochs): pool.submit(
                count, case, epochs, args.steps, args.hash_seed, Path(folder), not args.quick
            )
            for case in cases
            for epochs in (first, last)
        }
        totals = {key: job.result() for key, job in jobs.items()}
    steps = (last - first) * args.steps
    per_step = {
        case: {k: (totals[case, last][k] - totals[case, first][k]) / steps for k in events}
        for case in cases
    }
    raw = per_step["raw loop"]
    rows = [
        [case, *(f"{v[k]:,.0f}" for k in events), *(f"{v[k] / raw[k]:.4f}" for k in events)]
        for case, v in per_step.items()
    ]
    print(
        f"tiny MLP 32-64-10, batch 64, {args.steps} steps/epoch, torch {torch.__version__}, "
        f"1 thread; counted by cachegrind, epochs {first} vs {last}"
    )
    headers = ["case", *(f"{k}/step" for k in events), *(f"{k} ratio" for k in events)]
    print_table("per step", headers, rows)
    bare = per_step["unitrain bare"]
    ignite = per_step.get("ignite Engine")
    values = {
        "instructions_ratio": bare["Ir"] / raw["Ir"],
        "i1_miss_ratio": bare["I1mr"] / raw["I1mr"] if "I1mr" in bare else math.nan,
        "d1_miss_ratio": bare["D1mr"] / raw["D1mr"] if "D1mr" in bare else math.nan,
        "ignite_instructions_ratio": math.nan if ignite is None else ignite["Ir"] / raw["Ir"],
    }
    if args.plugins:
        from overhead import listener_calls_per_step

        plugged = per_step[f"unitrain +{args.plugins} plugins"]
        calls = listener_calls_per_step(args.plugins) - listener_calls_per_step(0)
        values["plugins_instructions_ratio"] = plugged["Ir"] / raw["Ir"]
        values["per_listener_instructions"] = (plugged["Ir"] - bare["Ir"]) / calls
        print(f"unitrain +{args.plugins} plugins: {calls} listener calls per step")
    emit(values)
    return values


if __name__ == "__main__":
    main()
