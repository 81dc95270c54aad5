"""``unitrain report --watch``: rewrite the page whenever a watched run's files change.

Every ``interval`` seconds the size and modification time of each run's ``metrics.jsonl``
and ``run.json`` are compared with the last look; on a change (or a run appearing in a
watched experiment folder) the page is written again. While any run is live the page carries
a meta refresh, so an open browser tab reloads it. The watch ends by itself, after writing a
final page without the refresh, when every run has ended: ``run.json``'s status is no
longer RUNNING (COMPLETED, FAILED, INTERRUPTED) or the run's process is gone (its lock is
free: CRASHED). A run folder without ``run.json`` cannot say it ended: it is watched until
Ctrl-C (a ``KeyboardInterrupt``, which :func:`watch_report` lets the caller turn into exit 0).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from unitrain.errors import ConfigError

__all__ = ["watch_report"]

Signature = tuple[tuple[str, int, int], ...]


def watch_report(
    runs: Sequence[Path],
    out: Path | None = None,
    *,
    interval: float = 2.0,
    written: Callable[[Path, int, bool], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Write the page now and after every change until every run has ended; returns the
    page. ``written(page, generation, live)`` is told of every write."""
    from unitrain.report import write_report
    from unitrain.report.loaded import find_sources, is_live

    if not interval > 0:
        raise ConfigError(f"unitrain report --watch: --interval must be > 0, got {interval}")
    refresh = max(1, round(interval))
    paths = [Path(p) for p in runs]
    last: Signature | None = None
    generation = 0
    while True:
        sources = find_sources(paths)
        signature = _signature([f for s in sources for f in s.files])
        live = any(is_live(source) for source in sources)
        if signature != last or not live:
            generation += 1
            reload = refresh if live else None
            page = write_report(paths, out, refresh=reload, generation=generation)
            if written is not None:
                written(page, generation, live)
            last = signature
            if not live:
                return page
        sleep(interval)


def _signature(files: Sequence[Path]) -> Signature:
    found = []
    for path in files:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            continue
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)
