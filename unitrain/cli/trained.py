"""Which trained model ``eval`` and ``predict`` use: a run folder, ``latest``, or (only when
asked for) the untrained one. Never silently the untrained model."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unitrain.config import RunConfig
from unitrain.errors import ConfigError
from unitrain.runs.checkpoint import load_checkpoint, load_weights_only, newest_valid
from unitrain.runs.names import is_hidden

__all__ = ["CONFIG_FILE", "MODEL_FILE", "Source", "final_state", "resolve_source"]

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.toml"
LATEST = "latest"


@dataclass(frozen=True, slots=True)
class Source:
    """The config to build from and the run whose weights to load (None: untrained)."""

    config: Path
    run: Path | None


def resolve_source(args: argparse.Namespace, command: str) -> Source:
    """``CONFIG`` may be a run folder (its ``config.toml`` and its weights); ``--run`` a run
    folder or ``latest``; without either, ``--untrained`` must say so."""
    given: Path = args.config
    run: Path | None = None
    if given.is_dir():
        if not (given / CONFIG_FILE).is_file():
            raise ConfigError(
                f"{command} {given}: a folder, but not a run folder (no {CONFIG_FILE} in it); "
                f"pass a run config file or a folder `unitrain fit` made"
            )
        run, given = given, given / CONFIG_FILE
    if args.run is not None:
        if run is not None:
            raise ConfigError(f"{command}: give a run folder or --run, not both")
        run = None if args.run == LATEST else Path(args.run)
        if run is not None and not run.is_dir():
            raise ConfigError(f"{command} --run {args.run}: no such folder")
    if run is None and args.run is None and not args.untrained:
        raise ConfigError(
            f"{command}: no trained model given. Pass --run RUN (a folder `unitrain fit` made; "
            "`unitrain runs` lists them), --run latest (the newest run of the config's "
            f"experiment), a run folder instead of the config, or --untrained to {command} "
            "with the task's untrained model on purpose"
        )
    if run is not None and args.untrained:
        raise ConfigError(f"{command}: --untrained and a run folder contradict each other")
    return Source(given, run)


def latest_run(config: RunConfig) -> Path:
    """The newest run of the config's experiment that has weights to load."""
    parent = Path(config.run.root) / config.run.experiment
    runs = sorted(
        (p.parent for p in parent.glob("*/run.json") if not is_hidden(p.parent.name)),
        reverse=True,
    )
    for run in runs:
        checkpoints = run / "checkpoints"
        if (run / "artifacts" / MODEL_FILE).is_file() or (
            checkpoints.is_dir() and newest_valid(checkpoints)[0] is not None
        ):
            return run
    raise ConfigError(
        f"--run latest: no run with weights under {parent} (looked at {len(runs)} run(s)); "
        "train one with `unitrain fit` first"
    )


def final_state(run: Path) -> dict[str, Any]:
    """The trainer state a run ended with: its final weights file, else (a run that did not
    finish) its newest checkpoint that verifies."""
    weights = run / "artifacts" / MODEL_FILE
    if weights.is_file():
        saved: dict[str, Any] = load_weights_only(weights, f"--run {run}: model file")
        return saved
    checkpoint, _ = (
        newest_valid(run / "checkpoints") if (run / "checkpoints").is_dir() else (None, [])
    )
    if checkpoint is None:
        raise ConfigError(
            f"--run {run}: no {MODEL_FILE} or checkpoints in it; pass the folder of a "
            "`unitrain fit` run (`unitrain runs` lists them)"
        )
    state: dict[str, Any] = load_checkpoint(checkpoint)["state"]
    return state
