"""The report's tables, as HTML: what each run ran with, and how several runs differ.

Every value comes from the run folder (``run.json``, ``metrics.jsonl``); a field an older
run folder lacks is shown as "not recorded", never left out silently or guessed.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from unitrain.report.best import best_values
from unitrain.report.loaded import ReportRun

__all__ = [
    "NOT_RECORDED",
    "best_comparison",
    "config_differences",
    "flatten",
    "run_details",
    "runs_table",
]

NOT_RECORDED = "not recorded"
_MISSING = f'<span class="missing">{NOT_RECORDED}</span>'


def runs_table(runs: Sequence[ReportRun]) -> str:
    """One row per run: its colour, name, status, times, steps and commit."""
    head = "".join(
        f"<th>{h}</th>"
        for h in ("", "run", "experiment", "status", "started", "duration", "steps", "commit")
    )
    rows = "".join(
        f'<tr class="run-row" data-colour="{run.colour}">'
        f"<td>{swatch(run)}</td>"
        f'<td><a href="#{run.anchor}">{_e(run.label)}</a></td>'
        f"<td>{_text(run.info.get('experiment'))}</td>"
        f'<td class="status">{_e(run.status)}</td>'
        f"<td>{_text(_when(_first(run.info, 'started', 'created')))}</td>"
        f"<td>{_text(duration(run.info))}</td>"
        f"<td>{_text(run.info.get('global_step'))}</td>"
        f"<td>{_commit_short(run.info)}</td></tr>"
        for run in runs
    )
    return f'<table id="runs"><tr>{head}</tr>{rows}</table>'


def swatch(run: ReportRun) -> str:
    """The run's colour as a small square (what the legend and the charts use)."""
    return (
        f'<span class="swatch" title="{_e(run.label)}" '
        f'style="background-color: {run.colour}"></span>'
    )


def run_details(run: ReportRun) -> str:
    """Everything recorded about one run, one table per subject."""
    info = run.info
    parts = [
        _section("git", "Code", _git_rows(info)),
        _section("times", "Time", _time_rows(info)),
        _section("versions", "Versions", _mapping_rows(info.get("versions"))),
        _section("config", "Config", _mapping_rows(_flat(info.get("config")))),
        _section("hyperparameters", "Hyperparameters", _hyper_rows(info)),
        _section("model", "Model", _model_rows(info.get("model"))),
        _plugins(info.get("plugins")),
        _best_table(run),
    ]
    return "".join(parts)


def config_differences(runs: Sequence[ReportRun]) -> str:
    """Config and hyperparameter keys whose values are not the same in every run."""
    flats = [_flat(r.info.get("config")) | _flat(_hyper(r.info), "hyperparameters") for r in runs]
    keys = sorted({key for flat in flats for key in flat})

    def shown(flat: dict[str, Any], key: str) -> str:  # absent differs from a recorded None
        return json.dumps(flat[key], default=str) if key in flat else "\0absent"

    differ = [k for k in keys if len({shown(f, k) for f in flats}) > 1]
    if not differ:
        return '<p class="note" id="config-differences">Every recorded setting is the same.</p>'
    head = "<th>setting</th>" + "".join(f"<th>{swatch(r)} {_e(r.label)}</th>" for r in runs)
    rows = "".join(
        f"<tr><th>{_e(key)}</th>"
        + "".join(f"<td>{_value(flat[key]) if key in flat else _MISSING}</td>" for flat in flats)
        + "</tr>"
        for key in differ
    )
    return f'<table id="config-differences"><tr>{head}</tr>{rows}</table>'


def best_comparison(runs: Sequence[ReportRun]) -> str:
    """Each evaluation metric's best value per run (epoch in brackets); the best run's bold."""
    bests = [{b.metric: b for b in best_values(r.metrics, r.info)} for r in runs]
    metrics = list(dict.fromkeys(metric for table in bests for metric in table))
    if not metrics:
        return '<p class="note" id="best-comparison">No evaluation metrics were recorded.</p>'
    head = "<th>metric</th>" + "".join(f"<th>{swatch(r)} {_e(r.label)}</th>" for r in runs)
    rows = []
    for metric in metrics:
        found = [table.get(metric) for table in bests]
        present = [b for b in found if b is not None]
        mode = present[0].mode
        winner = (min if mode == "min" else max)(b.value for b in present)
        cells = "".join(
            "<td>" + NOT_RECORDED + "</td>"
            if b is None
            else (
                f'<td class="{"winner" if b.value == winner else ""}">'
                f"{b.value:.6g} (epoch {b.epoch})</td>"
            )
            for b in found
        )
        rows.append(f"<tr><th>{_e(metric)} ({mode})</th>{cells}</tr>")
    return f'<table id="best-comparison"><tr>{head}</tr>{"".join(rows)}</table>'


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}``; lists stay leaves."""
    if isinstance(value, Mapping):
        if not value and prefix:
            return {prefix: {}}
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value} if prefix else {}


def duration(info: Mapping[str, Any]) -> str | None:
    """``ended - started`` (wall clock, pauses of a resumed run included): ``12.3 s`` under a
    minute, else h:mm:ss; a live run's so far, to its last heartbeat."""
    start = _first(info, "started", "created")
    end = _first(info, "ended", "heartbeat")
    if not isinstance(start, int | float) or not isinstance(end, int | float):
        return None
    span = max(0.0, float(end) - float(start))
    if span < 60:
        text = f"{span:.1f} s"
    else:
        hours, rest = divmod(round(span), 3600)
        minutes, secs = divmod(rest, 60)
        text = f"{hours}:{minutes:02d}:{secs:02d}"
    return text if info.get("ended") is not None else f"{text} so far"


# ---------------------------------------------------------------------- one run's tables


def _section(key: str, title: str, rows: Iterable[tuple[str, str]] | None) -> str:
    rows = list(rows or [])
    body = (
        "".join(f"<tr><th>{_e(name)}</th><td>{cell}</td></tr>" for name, cell in rows)
        if rows
        else f"<tr><td>{_MISSING}</td></tr>"
    )
    return f'<h3>{_e(title)}</h3><table class="{key}">{body}</table>'


def _git_rows(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    git = info.get("git")
    if not isinstance(git, Mapping) or not git.get("commit"):
        return [("commit", _MISSING if "git" not in info else "not a git work tree")]
    dirty = git.get("dirty")
    state = "not recorded" if dirty is None else ("yes: uncommitted changes" if dirty else "no")
    return [
        ("commit", f'<code class="commit">{_e(git["commit"])}</code>'),
        ("dirty", f'<span class="dirty">{_e(state)}</span>'),
        ("host", _text(info.get("host"))),
        ("command", _text(" ".join(map(str, info.get("argv") or [])) or None)),
    ]


def _time_rows(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("started", _text(_when(_first(info, "started", "created")))),
        ("ended", _ended(info)),
        ("duration", _text(duration(info))),
    ]
    if info.get("restarts"):
        rows.append(("restarts", _text(info.get("restarts"))))
        rows.append(("last resumed", _text(_when(info.get("resumed")))))
    if info.get("error"):
        rows.append(("error", _text(info.get("error"))))
    return rows


def _ended(info: Mapping[str, Any]) -> str:
    if info.get("ended") is None and info.get("status") == "RUNNING":
        return '<span class="running">not yet: running</span>'
    return _text(_when(info.get("ended")))


def _mapping_rows(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        return []
    return [(str(key), _value(item)) for key, item in value.items()]


def _hyper(info: Mapping[str, Any]) -> dict[str, Any]:
    """Loop settings and per-optimizer group values, flat: ``optimizer0.group0.lr``."""
    hyper = info.get("hyperparameters")
    if not isinstance(hyper, Mapping):
        return {}
    flat = {k: v for k, v in hyper.items() if k != "optimizers"}
    for i, optimizer in enumerate(hyper.get("optimizers") or []):
        if not isinstance(optimizer, Mapping):
            continue
        flat[f"optimizer{i}"] = optimizer.get("class")
        for g, group in enumerate(optimizer.get("groups") or []):
            if isinstance(group, Mapping):
                for key, value in group.items():
                    flat[f"optimizer{i}.group{g}.{key}"] = value
    return flat


def _hyper_rows(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(key, _value(value)) for key, value in _hyper(info).items()]


def _model_rows(model: Any) -> list[tuple[str, str]]:
    if not isinstance(model, Mapping):
        return []
    rows = [(key, _text(model.get(key))) for key in ("class", "parameters", "trainable")]
    total = model.get("modules_total")
    if isinstance(total, int):
        rows.append(("modules", _e(total)))
    return rows


def _plugins(plugins: Any) -> str:
    if not isinstance(plugins, list) or not plugins:
        return f'<h3>Plugins</h3><table class="plugins"><tr><td>{_MISSING}</td></tr></table>'
    head = "<tr><th>name</th><th>class</th><th>order</th><th>ranks</th><th>from</th></tr>"
    rows = "".join(
        f'<tr><td class="plugin-name">{_e(p.get("name"))}</td><td><code>{_e(p.get("class"))}'
        f"</code></td><td>{_text(p.get('order'))}</td><td>{_text(p.get('ranks'))}</td>"
        f"<td>{_e(p.get('distribution') or 'built-in / script')}</td></tr>"
        for p in plugins
        if isinstance(p, Mapping)
    )
    return f'<h3>Plugins (in call order)</h3><table class="plugins">{head}{rows}</table>'


def _best_table(run: ReportRun) -> str:
    bests = best_values(run.metrics, run.info)
    if not bests:
        return '<h3>Best values</h3><p class="best note">No evaluation metrics were recorded.</p>'
    head = (
        "<tr><th>metric</th><th>best</th><th>epoch</th><th>step</th><th>last</th>"
        "<th>better is</th></tr>"
    )
    rows = "".join(
        f'<tr><th>{_e(b.metric)}</th><td class="best-value">{b.value:.6g}</td>'
        f"<td>{b.epoch}</td><td>{b.step}</td><td>{b.final:.6g}</td>"
        f"<td>{'lower' if b.mode == 'min' else 'higher'} ({_e(b.why)})</td></tr>"
        for b in bests
    )
    return f'<h3>Best values</h3><table class="best">{head}{rows}</table>'


# ---------------------------------------------------------------------- cells


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    return flatten(value, prefix) if isinstance(value, Mapping) else {}


def _commit_short(info: Mapping[str, Any]) -> str:
    git = info.get("git")
    if not isinstance(git, Mapping) or not git.get("commit"):
        return _MISSING
    dirty = " (dirty)" if git.get("dirty") else ""
    return f"<code>{_e(str(git['commit'])[:10])}</code>{dirty}"


def _first(info: Mapping[str, Any], *keys: str) -> Any:
    """The first of ``keys`` recorded (not None) in ``info``."""
    return next((info[k] for k in keys if info.get(k) is not None), None)


def _when(stamp: Any) -> str | None:
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def _value(value: Any) -> str:
    """A recorded value; a recorded ``None`` (``max_steps``: no limit) is "none", which is
    not the same as a field the run did not record."""
    return '<span class="none">none</span>' if value is None else _text(value, short=True)


def _text(value: Any, short: bool = False) -> str:
    if value is None:
        return _MISSING
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if short and len(text) > 300:
        text = text[:297] + "..."
    return _e(text)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
