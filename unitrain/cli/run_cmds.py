"""``unitrain fit``, ``eval`` and ``predict``: a run config turned into work."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from unitrain.cli.build import (
    RunData,
    build_trainer,
    load_data,
    load_enabled_plugins,
    progress_plugins,
)
from unitrain.cli.info_cmds import stdout_console
from unitrain.config import RunConfig, dump_toml, load_run_config
from unitrain.core.state import State
from unitrain.errors import ConfigError
from unitrain.log import get_logger
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RUN_DIR, RunStore
from unitrain.report.lr_log import LearningRateLog
from unitrain.runs.checkpoint import load_checkpoint, load_weights_only, newest_valid
from unitrain.trainer import Trainer

__all__ = ["cmd_eval", "cmd_fit", "cmd_predict"]

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.toml"
log = get_logger("cli")


def cmd_fit(args: argparse.Namespace, console: Console) -> int:
    """Train; the run folder gets the resolved config, metrics, checkpoints and status.

    The run store's plugins do the recording (:class:`~unitrain.plugins.RunStore`,
    :class:`~unitrain.plugins.Checkpoint`); this command adds the resolved config and the
    final weights, and prints ``run: <folder>`` on stdout for scripts.
    """
    config = load_run_config(args.config, args.overrides)
    resolved = config.model_dump(mode="json")
    if args.print_config:
        sys.stdout.write(dump_toml(resolved))
        return 0
    loaded, strict = load_enabled_plugins(config, args.plugin, lenient=args.lenient_plugins)
    data = load_data(config)
    recording: list[object] = [
        RunStore(
            config.run.root,
            config.run.experiment,
            log_every_n_steps=config.run.metrics_every_n_steps or None,
            config=resolved,
        ),
        _Announce(dump_toml(resolved)),
    ]
    if config.run.metrics_every_n_steps:
        recording.append(LearningRateLog(config.run.metrics_every_n_steps))
    if config.run.checkpoint_every_n_epochs:
        recording.append(Checkpoint(every_n_epochs=config.run.checkpoint_every_n_epochs))
    builtins = [*progress_plugins(config, console, args.plain), *recording]
    trainer = build_trainer(config, loaded, strict=strict, builtins=builtins)
    log.info("plugins: %s", ", ".join(trainer.plugins.names))
    trainer.fit(data.train, eval_data=data.eval, resume=args.resume)
    run = trainer.state.stash.get(RUN_DIR)
    if run is not None and trainer.state.is_main_process:
        torch.save(trainer.state_dict(), run.artifacts / MODEL_FILE)
        log.info("run %s completed after %d steps", run.path, trainer.state.global_step)
    return 0


class _Announce:
    """Writes the resolved config into the run folder and prints where the run is."""

    name = "cli_announce"
    order = RunStore.order + 1  # right after the run store has made (or reopened) the run
    ranks = "main"

    def __init__(self, resolved_toml: str) -> None:
        self.resolved_toml = resolved_toml

    def on_fit_start(self, state: State) -> None:
        run = state.stash.get(RUN_DIR)
        if run is None:
            return
        (run.path / CONFIG_FILE).write_text(self.resolved_toml, encoding="utf-8")
        print(f"run: {run.path}", flush=True)


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    """Evaluate every split of the data's ``eval`` (or ``--split``) and print a table."""
    config = load_run_config(args.config, args.overrides)
    trainer, data = _trained(config, args, console)
    splits = _splits(data.eval)
    if args.split is not None:
        if args.split not in splits:
            raise ConfigError(f"--split {args.split!r}: the data has splits {sorted(splits)}")
        splits = {args.split: splits[args.split]}
    if not splits:
        raise ConfigError(f"data function {config.data!r} returned no 'eval' data to evaluate")
    table = Table("split", "metric", "value", title="evaluation")
    for split, loader in splits.items():
        for name, value in trainer.evaluate(loader, split=split).items():
            table.add_row(split, name, f"{value:.6g}")
    stdout_console().print(table)
    return 0


def cmd_predict(args: argparse.Namespace, console: Console) -> int:
    """Predict the data's ``predict`` (else its first eval split) and save the outputs."""
    config = load_run_config(args.config, args.overrides)
    trainer, data = _trained(config, args, console)
    source = data.predict
    if source is None:
        splits = _splits(data.eval)
        if not splits:
            raise ConfigError(f"data function {config.data!r} returned no 'predict' or 'eval'")
        source = next(iter(splits.values()))
    outputs = trainer.predict(source)
    out: Path = args.out or (
        args.run / "artifacts" / "predictions.pt" if args.run else Path("predictions.pt")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(outputs, out)
    print(f"predictions: {len(outputs)} batches saved to {out}", flush=True)
    return 0


def _trained(
    config: RunConfig, args: argparse.Namespace, console: Console
) -> tuple[Trainer, RunData]:
    loaded, strict = load_enabled_plugins(config, args.plugin, lenient=args.lenient_plugins)
    data = load_data(config)
    trainer = build_trainer(
        config, loaded, strict=strict, builtins=progress_plugins(config, console, args.plain)
    )
    if args.run is None:
        log.warning("no --run given: using the task's untrained model")
        return trainer, data
    state = _final_state(args.run)
    assert trainer.state.model is not None
    # Only the weights: the other plugins' state (run store, checkpoints) is for resuming.
    trainer.state.model.load_state_dict(state["model"])
    return trainer, data


def _final_state(run: Path) -> dict[str, Any]:
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


def _splits(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if isinstance(data, Mapping):
        return {str(k): v for k, v in data.items()}
    return {"val": data}
