"""A per-layer heatmap over steps, written as a PNG with no plotting dependency.

Rows are modules (in the order they first appear in the log), columns are the logged
steps, colour is the value on a viridis-like scale (optionally of ``log10``); a missing
value is grey. Each cell is ``scale`` × ``scale`` pixels.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

from unitrain.bus.log import BusLog
from unitrain.errors import ConfigError

__all__ = ["heatmap_png"]

_ANCHORS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
_MISSING = (128, 128, 128)


def _colour(t: float) -> tuple[int, int, int]:
    position = min(max(t, 0.0), 1.0) * (len(_ANCHORS) - 1)
    low = min(int(position), len(_ANCHORS) - 2)
    frac = position - low
    a, b = _ANCHORS[low], _ANCHORS[low + 1]
    return (
        round(a[0] + (b[0] - a[0]) * frac),
        round(a[1] + (b[1] - a[1]) * frac),
        round(a[2] + (b[2] - a[2]) * frac),
    )


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def heatmap_png(
    log: BusLog, topic: str, path: str | Path, *, scale: int = 8, log_scale: bool = False
) -> list[str | None]:
    """Render ``topic`` of ``log`` as a modules × steps heatmap PNG; returns the row order."""
    series = log.series(topic)
    if not series:
        known = sorted({row.topic for row in log.rows})
        raise ConfigError(
            f"heatmap_png: the log has no values of {topic!r} (it has {known}); subscribe a "
            "producer of it and let the log flush (BusLog(every=...) or the end of the fit)"
        )
    if scale < 1:
        raise ConfigError(f"heatmap_png: scale must be >= 1, got {scale}")
    modules = list(series)
    steps = sorted({step for s, _ in series.values() for step in s})
    column = {step: index for index, step in enumerate(steps)}
    grid: list[list[float | None]] = [[None] * len(steps) for _ in modules]
    for row, module in enumerate(modules):
        for step, raw_value in zip(*series[module], strict=True):
            value = raw_value
            if log_scale:
                value = math.log10(raw_value) if raw_value > 0 else float("nan")
            grid[row][column[step]] = value if math.isfinite(value) else None
    finite = [v for line in grid for v in line if v is not None]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = high - low or 1.0
    raw = bytearray()
    for line in grid:
        pixels = bytearray()
        for cell in line:
            rgb = _MISSING if cell is None else _colour((cell - low) / span)
            pixels += bytes(rgb) * scale
        for _ in range(scale):
            raw += b"\x00" + pixels  # filter type 0 per scanline
    width, height = len(steps) * scale, len(modules) * scale
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
    png += _chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + _chunk(b"IEND", b"")
    Path(path).write_bytes(png)
    return modules
