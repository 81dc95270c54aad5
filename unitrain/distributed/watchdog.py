"""The hang watchdog: a rank that makes no progress for ``hang_timeout`` seconds stops every
rank, with an error naming the stuck rank and where it was.

Without it, one rank stuck outside a collective (a deadlock in a data worker, a plugin
waiting on a lock, a stalled file system) leaves every other rank waiting in the next
collective until the process group's own timeout (10 minutes), and the error then names
whichever rank timed out first.

How it works (nothing runs on the training thread; the hot path pays nothing):

- each rank runs a daemon thread that, every ``min(1 s, hang_timeout / 10)``, reads the
  trainer's position (stage, epoch, micro-step, batch) and the main thread's Python stack:
  the innermost frame that is a hook implementation names the **hook** (and its plugin);
  frames inside ``torch.distributed`` / ``torch.autograd`` / the stop agreement mean the rank
  is **waiting for its peers** in a collective;
- it publishes that in the process group's key-value store (the c10d store every rank
  already shares), and reads every rank's entry; a rank whose position and hook have not
  changed for ``hang_timeout`` seconds (by the reader's clock) is stale;
- when some rank is stale, the stuck one is, among the ranks inside a pass, the one not
  waiting in a collective and the furthest behind (micro-step, then the hook's place in the
  step). The first rank to see it writes the verdict; every rank then records it (the
  launcher's failure stamp, torchelastic's error file, stderr) and exits at once
  (``os._exit``: a thread cannot interrupt a collective that waits in C++).

Only ranks inside ``fit`` / ``evaluate`` / ``predict`` count: an idle rank is never stuck.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from types import FrameType
from typing import Any

import torch.distributed as dist

from unitrain.core.state import State
from unitrain.distributed.failures import write_stamp
from unitrain.errors import ConfigError
from unitrain.hooks.specs import Hooks

__all__ = [
    "DEFAULT_HANG_TIMEOUT",
    "Watchdog",
    "WatchdogPlugin",
    "check_hang_timeout",
    "choose_stuck",
]

#: seconds without progress before a rank counts as stuck: longer than any step or hook of
#: an ordinary run (a checkpoint of a large model included); raise it for longer ones.
DEFAULT_HANG_TIMEOUT = 300.0
EXIT_CODE = 124  # as timeout(1): the run was stopped for taking too long
_PREFIX = "unitrain/watchdog/"
_HOOKS = frozenset(name for name in dir(Hooks) if not name.startswith("_"))
# the place of each hook inside a step, to tell which of two ranks at one step is behind
_STEP_ORDER = (
    "on_epoch_start",
    "on_train_step_start",
    "run_prepare_batch",
    "run_forward",
    "run_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "run_optimizer_step",
    "on_after_optimizer_step",
    "on_train_step_end",
    "on_eval_start",
    "on_eval_step_start",
    "run_eval_step",
    "on_eval_step_end",
    "on_eval_end",
    "on_epoch_end",
    "on_fit_end",
)
_WAITING = (
    f"{os.sep}torch{os.sep}distributed{os.sep}",
    f"{os.sep}torch{os.sep}autograd{os.sep}",  # a DDP backward waits here for its all-reduce
    f"unitrain{os.sep}distributed{os.sep}agreement.py",
)


def check_hang_timeout(value: object) -> float | None:
    """Validate ``Trainer(hang_timeout=...)``: seconds > 0, or None (no watchdog)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(
            f"Trainer(hang_timeout={value!r}): expected seconds > 0 (the default is "
            f"{DEFAULT_HANG_TIMEOUT:g}), or None to turn the hang watchdog off"
        )
    return float(value)


@dataclass
class Report:
    """One rank's published position."""

    rank: int
    active: bool
    position: tuple[Any, ...]
    hook: str
    where: str
    waiting: bool

    @property
    def progress(self) -> tuple[Any, ...]:
        return (*self.position, self.hook)

    def sort_key(self) -> tuple[int, int, int]:
        micro = int(self.position[3]) if len(self.position) > 3 else 0
        place = _STEP_ORDER.index(self.hook) if self.hook in _STEP_ORDER else len(_STEP_ORDER)
        return (int(self.waiting), micro, place)


def choose_stuck(reports: list[Report]) -> Report:
    """The stuck rank: not waiting in a collective, furthest behind (micro-step, hook)."""
    return min(reports, key=lambda report: (*report.sort_key(), report.rank))


def describe(report: Report) -> str:
    """``at step 2 (micro-step 2, epoch 0, fit) in hook on_train_step_start of plugin ...``"""
    stage, _, epoch, micro, global_step, _ = report.position
    waits = ", waiting in a collective" if report.waiting else ""
    at = f"at step {global_step} (micro-step {micro}, epoch {epoch}, {stage})"
    return f"{at} in {report.where}{waits}"


class Watchdog:
    """One per process; follows the trainer that runs now (see the module)."""

    _instance: Watchdog | None = None
    _lock = threading.Lock()

    def __init__(self, timeout: float, rank: int, world_size: int) -> None:
        self.timeout, self.rank, self.world_size = timeout, rank, world_size
        self.period = min(1.0, timeout / 10)
        self.state: State | None = None
        self.main = threading.main_thread()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def follow(cls, state: State, timeout: float | None) -> None:
        """Watch ``state`` from now on (starting the process's watchdog if needed)."""
        with cls._lock:
            current = cls._instance
            if timeout is None:
                if current is not None and current.state is state:
                    current.state = None
                return
            if current is None or current.timeout != timeout or not current.alive:
                if current is not None:
                    current.close()
                current = cls(timeout, state.rank, state.world_size)
                cls._instance = current
                current.state = state
                current.start()
            current.state = state

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        store = dist.distributed_c10d._get_default_store()
        clone = getattr(store, "clone", None)
        self._store = clone() if callable(clone) else store  # its own connection
        self._thread = threading.Thread(target=self._run, name="unitrain-watchdog", daemon=True)
        self._thread.start()
        # stopped and joined before the interpreter tears down: a daemon thread frozen inside
        # a store call while the store's C++ client is destroyed aborts the process
        # ("terminate called without an active exception", seen under torchrun)
        atexit.register(self.shutdown)

    def close(self) -> None:
        self._stop.set()

    def shutdown(self) -> None:
        """Stop the thread, wait for its current store call, drop the store connection."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=self.period + 10)
        if thread is None or not thread.is_alive():
            self._store = None

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        seen: dict[int, tuple[tuple[Any, ...], float]] = {}
        keys = [f"{_PREFIX}{rank}" for rank in range(self.world_size)]
        verdict_key = f"{_PREFIX}verdict"
        mine = self._report()
        moved = time.monotonic()  # when this rank last made progress
        try:
            while not self._stop.wait(self.period):
                last_mine, mine = mine, self._report()
                if mine.progress != last_mine.progress or not mine.active:
                    moved = time.monotonic()
                self._store.set(keys[self.rank], json.dumps(mine.__dict__))
                if self._store.check([verdict_key]):
                    self._die(json.loads(self._store.get(verdict_key)), written=False)
                present = [k for k in keys if self._store.check([k])]
                now = time.monotonic()
                stale = []
                for raw in self._store.multi_get(present):
                    fields = json.loads(raw)
                    report = Report(**{**fields, "position": tuple(fields["position"])})
                    last = seen.get(report.rank)
                    if last is None or last[0] != report.progress or not report.active:
                        seen[report.rank] = (report.progress, now)
                    elif report.active and now - last[1] >= self.timeout:
                        stale.append(report)
                if stale:  # a hang: blame among every active rank, not only the stale ones
                    everyone = [json.loads(r) for r in self._store.multi_get(present)]
                    reports = [
                        Report(**{**f, "position": tuple(f["position"])})
                        for f in everyone
                        if f["active"]
                    ]
                    self._decide(reports, everyone)
        except Exception:
            # the store is gone: the run ended (nothing left to watch), or its host (rank 0,
            # or the torchrun agent) died, maybe right after deciding on a hang. A rank that
            # itself has not moved for hang_timeout would wait for ever: it leaves too.
            if mine.active and time.monotonic() - moved >= self.timeout:
                message = (
                    f"rank {self.rank} lost the process group's store (its host is gone: "
                    f"remote process exited) after making no progress for {self.timeout:g} "
                    f"s, {describe(mine)}"
                )
                self._die({"stuck_rank": self.rank, "message": message}, written=False)
            return

    def _report(self) -> Report:
        state = self.state
        active = state is not None and state.phase != "idle"
        position: tuple[Any, ...] = ("idle", None, 0, 0, 0, 0)
        if state is not None:
            position = (
                state.phase,
                state.split,
                state.epoch,
                state.micro_step,
                state.global_step,
                state.batch_idx,
            )
        frame = sys._current_frames().get(self.main.ident or -1)
        hook, where, waiting = _inspect(frame)
        return Report(self.rank, active, position, hook, where, waiting)

    def _decide(self, reports: list[Report], everyone: list[dict[str, Any]]) -> None:
        stuck = choose_stuck(reports)
        others = [
            f"rank {r['rank']} {'waiting in a collective in' if r['waiting'] else 'in'} "
            f"{r['hook'] or 'no hook'}"
            for r in everyone
            if r["rank"] != stuck.rank
        ]
        message = (
            f"the hang watchdog stopped the run: rank {stuck.rank} of {self.world_size} made "
            f"no progress for {self.timeout:g} s (hang_timeout={self.timeout:g}), "
            f"{describe(stuck)}. Meanwhile: {'; '.join(others) or 'no other rank reported'}. "
            "If a step or hook legitimately takes longer, raise Trainer(hang_timeout=...)"
        )
        verdict = {"stuck_rank": stuck.rank, "message": message, "by": self.rank}
        if self._store.add(f"{_PREFIX}elected", 1) == 1:  # the first rank to see it decides
            self._record(verdict, kind="hang")
            self._store.set(f"{_PREFIX}verdict", json.dumps(verdict))
            # the store may live in this process (rank 0): stay until the others have read
            # the verdict, or they could not learn it once it is gone
            deadline = time.monotonic() + 3 * self.period + 2
            acked = f"{_PREFIX}acknowledged"
            while self._store.add(acked, 0) < self.world_size - 1:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self._die(verdict, written=True)

    def _die(self, verdict: dict[str, Any], written: bool) -> None:
        if not written:
            self._record(verdict, kind="stopped")
            with contextlib.suppress(Exception):  # the store may be gone already
                self._store.add(f"{_PREFIX}acknowledged", 1)
        sys.stderr.write(f"[rank {self.rank}] unitrain: {verdict['message']}\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_CODE)

    def _record(self, verdict: dict[str, Any], kind: str) -> None:
        message = str(verdict["message"])
        if kind == "stopped":
            message = f"stopped by the watchdog: {message}"
        directory = os.environ.get("UNITRAIN_FAILURE_DIR")
        if directory:
            extra = {"stuck_rank": verdict["stuck_rank"]}
            write_stamp(directory, self.rank, None, kind=kind, message=message, extra=extra)
        error_file = os.environ.get("TORCHELASTIC_ERROR_FILE")
        if error_file:  # what torchrun prints in its summary
            data = {
                "message": {
                    "message": f"unitrain hang watchdog: {message}",
                    "extraInfo": {"py_callstack": message, "timestamp": str(int(time.time()))},
                }
            }
            try:
                with open(error_file, "w") as file:
                    json.dump(data, file)
            except OSError:
                pass  # stderr still says it


def _inspect(frame: FrameType | None) -> tuple[str, str, bool]:
    """The innermost hook on the main thread's stack, where it stands, and whether it waits
    in a collective (judged by the frames inside that hook only: the launcher's own frames
    further out are torch.distributed's too)."""
    if frame is None:
        return "", "(no stack)", False
    innermost = traceback.extract_stack(frame, limit=1)[-1]
    hook, plugin, waiting = "", "", False
    probe: FrameType | None = frame
    while probe is not None:
        filename = probe.f_code.co_filename
        if probe.f_code.co_name in _HOOKS:
            hook = probe.f_code.co_name
            owner = probe.f_locals.get("self")
            plugin = f" of plugin {type(owner).__name__}" if owner is not None else ""
            break
        if f"unitrain{os.sep}core{os.sep}" in filename:
            break  # the loop itself: outside any hook
        waiting = waiting or any(part in filename for part in _WAITING)
        probe = probe.f_back
    place = f"{os.path.basename(innermost.filename)}:{innermost.lineno} in {innermost.name}"
    if hook:
        return hook, f"hook {hook}{plugin}, at {place}", waiting
    return "", f"outside any hook, at {place}", waiting


class WatchdogPlugin:
    """Points the process's watchdog at this trainer whenever one of its passes starts."""

    ranks = "all"

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout

    def on_fit_start(self, state: State) -> None:
        Watchdog.follow(state, self.timeout)

    def on_eval_start(self, state: State, split: str) -> None:
        if state.phase != "fit":  # evaluate() on its own; inside a fit it is followed already
            Watchdog.follow(state, self.timeout)

    def on_predict_start(self, state: State) -> None:
        Watchdog.follow(state, self.timeout)
