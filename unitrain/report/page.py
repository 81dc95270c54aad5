"""The report's HTML page: self-contained (figures inline as data URIs), no network.

One page shows one run or compares several: a table of the runs (each with its colour),
for several runs the best values side by side and the settings that differ, the curves,
then each run's own section (code, times, versions, config, hyperparameters, model,
plugins, best values, per-layer heatmaps). A page written while a run trains carries a
``<meta http-equiv="refresh">``, so a browser reloads it, from ``file://`` too; the last
page, written once the run ended, has none.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Mapping, Sequence

from unitrain.report.loaded import ReportRun
from unitrain.report.plots import Figure
from unitrain.report.sections import (
    best_comparison,
    config_differences,
    run_details,
    runs_table,
    swatch,
)

__all__ = ["render_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 66em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
h3 { font-size: 1em; margin: 1.2em 0 0.3em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
th { font-weight: 600; background: #f6f6f6; }
td { overflow-wrap: anywhere; }
figure { margin: 1.5em 0; } img { max-width: 100%; height: auto; }
figcaption, .note, .generated { color: #555; font-size: 0.9em; }
.missing, .none { color: #999; font-style: italic; }
.status { white-space: nowrap; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 2px;
          vertical-align: -0.1em; margin-right: 0.3em; }
.legend { display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; margin: 0.5em 0; }
.winner { font-weight: 700; }
section.run { border-top: 1px solid #ccc; margin-top: 2.5em; }
"""

# Checks in the browser that every figure decoded; a test reads the verdict from the DOM.
_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.querySelectorAll("figure img"));
  var broken = images.filter(function (i) { return !i.complete || i.naturalWidth === 0; });
  broken.forEach(function (i) { console.error("figure did not load: " + i.alt); });
  document.body.setAttribute("data-figures-loaded", String(images.length - broken.length));
});
"""


def render_page(
    title: str,
    runs: Sequence[ReportRun],
    curves: Sequence[Figure],
    per_run: Mapping[str, Sequence[Figure]],
    *,
    refresh: int | None = None,
    generation: int = 1,
) -> str:
    """The page; ``per_run[run.anchor]`` are the figures of that run's own section."""
    several = len(runs) > 1
    now = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    live = (
        f"live: reloads every {refresh} s while the run trains"
        if refresh
        else "final: the page does not reload"
    )
    head_refresh = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    legend = (
        '<div class="legend" id="legend">'
        + "".join(
            f'<span class="legend-item" data-colour="{r.colour}">{swatch(r)}{_e(r.label)}</span>'
            for r in runs
        )
        + "</div>"
    )
    comparison = (
        f"<h2>Best values</h2>{best_comparison(runs)}"
        f"<h2>Settings that differ</h2>{config_differences(runs)}"
        if several
        else ""
    )
    curves_html = "".join(_figure(f) for f in curves) or (
        '<p class="note">The run has no metrics records to plot.</p>'
    )
    sections = "".join(
        f'<section class="run" id="{r.anchor}" style="--run-colour: {r.colour}">'
        f"<h2>{swatch(r)}Run {_e(r.label)}</h2>"
        f'<p class="note">{_e(r.source.folder.resolve())}</p>'
        f"{run_details(r)}" + "".join(_figure(f) for f in per_run.get(r.anchor, ())) + "</section>"
        for r in runs
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">{head_refresh}<title>{_e(title)}</title>'
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head>"
        f'<body data-live="{"true" if refresh else "false"}" data-generation="{generation}">'
        f"<h1>{_e(title)}</h1>"
        f'<p class="generated">Written {now}; {live}.</p>'
        f"<h2>{'Runs' if several else 'Run'}</h2>{legend if several else ''}{runs_table(runs)}"
        f"{comparison}"
        f"<h2>Curves</h2>{legend if several else ''}{curves_html}"
        f"{sections}</body></html>\n"
    )


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    return (
        f'<figure id="{_e(figure.stem)}"><h3>{_e(figure.title)}</h3>'
        f'<img alt="{_e(figure.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(figure.caption)}</figcaption></figure>"
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
