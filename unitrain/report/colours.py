"""One colour per run, the same in every chart, the legend and the tables.

The first ten are matplotlib's ``tab10`` (what a single-run chart uses too); after that,
hues are spread by the golden angle so that any number of runs stay apart.
"""

from __future__ import annotations

import colorsys

__all__ = ["run_colour"]

_TAB10 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def run_colour(index: int) -> str:
    """The ``#rrggbb`` colour of the ``index``-th run (0-based) of a page."""
    if index < 0:
        raise ValueError(f"run_colour: index must be >= 0, got {index}")
    if index < len(_TAB10):
        return _TAB10[index]
    hue = (index * 0.618033988749895) % 1.0
    red, green, blue = colorsys.hls_to_rgb(hue, 0.45, 0.65)
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in (red, green, blue))
