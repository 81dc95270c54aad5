"""Which rank failed first, and why: the cause of a failed multi-process run.

When one rank dies, its peers fail too, a moment later, inside their next collective
("Connection closed by peer"). torchelastic reports whichever failure its poll saw first,
which is often a survivor. The cause is found from three sources:

- the **stamp** every worker writes when it raises (its rank, the time, the error's type and
  message; :func:`write_stamp`); the watchdog writes one of kind ``"hang"`` naming a stuck
  rank (see :mod:`unitrain.distributed.watchdog`);
- the **exit codes** of the worker processes: a negative code is a signal; a rank killed by a
  signal (SIGKILL from the OOM killer, a segfault) writes no stamp;
- the **kind** of each stamped error: a peer-closed connection is a consequence, not a cause.

Order of blame: a hang verdict; else the earliest stamp whose error is not a peer-closed
connection; else a rank killed by a signal; else the earliest stamp.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Failure", "find_cause", "is_peer_closed", "read_stamps", "write_stamp"]

# what gloo, nccl and the c10d store say when the other end of a connection went away
_PEER_CLOSED = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "socket closed",
    "connection refused",
    "econnreset",
    "epipe",
    "remote process exited",
    "nccl communicator was aborted",
    "stopped by the watchdog",
)


@dataclass(frozen=True)
class Failure:
    """The blamed rank, what happened to it, and the ranks that failed because of it."""

    rank: int
    how: str  # "raised ValueError", "killed by signal SIGKILL (exit code -9)", "hung: ..."
    consequences: tuple[int, ...]
    consequence_detail: str  # the first line of a consequence's error, or ""
    stamped: bool  # the blamed rank wrote a stamp (so torchelastic has its traceback)
    message: str = ""  # a hang verdict's own text


def write_stamp(
    directory: str | os.PathLike[str],
    rank: int,
    error: BaseException | None,
    kind: str = "error",
    message: str = "",
    extra: dict[str, Any] | None = None,
) -> None:
    """Record this rank's failure (atomically: written aside, then renamed)."""
    text = message or (f"{type(error).__name__}: {error}" if error is not None else "")
    record = {
        "rank": rank,
        "time_ns": time.time_ns(),
        "type": type(error).__name__ if error is not None else kind,
        "kind": kind,
        "message": text[-4000:],
        **(extra or {}),
    }
    # the watchdog's own record is a file of its own: the rank's error may follow it
    name = f"rank-{rank}.json" if kind == "error" else f"rank-{rank}-{kind}.json"
    path = Path(directory) / name
    aside = path.with_suffix(f".{os.getpid()}.tmp")
    aside.write_text(json.dumps(record))
    os.replace(aside, path)


def read_stamps(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every stamp in ``directory``, earliest first."""
    stamps = []
    for path in Path(directory).glob("rank-*.json"):
        try:
            stamps.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # a worker killed mid-write: its exit code still tells
    stamps.sort(key=lambda s: int(s["time_ns"]))
    return stamps


def is_peer_closed(message: str) -> bool:
    """True when an error only says that another rank went away."""
    lowered = message.lower()
    return any(phrase in lowered for phrase in _PEER_CLOSED)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def find_cause(
    stamps: list[dict[str, Any]],
    exit_codes: dict[int, int | None],
    first_dead: list[int],
    closed_with: int = signal.SIGTERM,
) -> Failure | None:
    """Blame one rank (see the module); ``None`` when nothing at all is known.

    ``exit_codes``: each rank's exit code once every worker stopped (``None``: unknown);
    ``first_dead``: ranks seen dead by a signal before the launcher stopped the others (their
    signal cannot be the launcher's own); ``closed_with``: the signal the launcher stops
    the survivors with (a rank that died of it may have been stopped, not killed).
    """
    stamped = {int(s["rank"]) for s in stamps}
    hang = [s for s in stamps if s.get("kind") == "hang"]
    if hang:
        verdict = hang[0]
        stuck = int(verdict.get("stuck_rank", verdict["rank"]))
        others = tuple(sorted(r for r in stamped | set(exit_codes) if r != stuck))
        return Failure(stuck, "hung", others, "", stuck in stamped, str(verdict["message"]))
    causes = [s for s in stamps if not is_peer_closed(str(s.get("message", "")))]
    signalled = [
        rank
        for rank, code in sorted(exit_codes.items())
        if code is not None
        and code < 0
        and rank not in stamped
        and (rank in first_dead or -code != closed_with)
    ]
    signalled.sort(key=lambda rank: (rank not in first_dead, rank))
    if causes:
        rank = int(causes[0]["rank"])
        how = f"raised {causes[0].get('type', 'an error')}"
    elif signalled:
        rank = signalled[0]
        code = exit_codes[rank]
        assert code is not None
        how = f"was killed by {_signal_name(code)} (exit code {code})"
    elif stamps:
        rank = int(stamps[0]["rank"])
        how = f"raised {stamps[0].get('type', 'an error')}"
    else:
        return None
    after = [s for s in stamps if int(s["rank"]) != rank]
    detail = str(after[0].get("message", "")).strip().splitlines()[0][:300] if after else ""
    consequences = tuple(sorted({int(s["rank"]) for s in after}))
    return Failure(rank, how, consequences, detail, rank in stamped)
