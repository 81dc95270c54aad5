"""The report's HTML page: self-contained (figures inline as data URIs), no network."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from unitrain.report.plots import Figure

__all__ = ["render_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
figure { margin: 1.5em 0; } img { max-width: 100%; }
.note { color: #666; }
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
    info: Mapping[str, Any],
    final: Mapping[str, Mapping[str, float]],
    figures: Sequence[Figure],
) -> str:
    """The page: run facts, the final value of every metric, then every figure."""
    facts = "".join(
        f"<tr><th>{_e(key)}</th><td>{_e(_short(value))}</td></tr>"
        for key, value in info.items()
        if value not in (None, "", {}, [])
    )
    rows = "".join(
        f"<tr><td>{_e(split)}</td><td>{_e(name)}</td><td>{value:.6g}</td></tr>"
        for split, values in sorted(final.items())
        for name, value in sorted(values.items())
    )
    figures_html = "".join(
        f'<figure id="{_e(f.stem)}"><img alt="{_e(f.title)}" '
        f'src="data:image/png;base64,{base64.b64encode(f.png).decode("ascii")}">'
        f"<figcaption>{_e(f.title)}</figcaption></figure>"
        for f in figures
    )
    if not figures:
        figures_html = '<p class="note">The run has no metrics records to plot.</p>'
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head>"
        f"<body><h1>{_e(title)}</h1>"
        f"<h2>Run</h2><table>{facts}</table>"
        f"<h2>Final values</h2><table><tr><th>split</th><th>name</th><th>value</th></tr>"
        f"{rows}</table>"
        f"<h2>Curves</h2>{figures_html}</body></html>\n"
    )


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 300 else text[:297] + "..."


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
