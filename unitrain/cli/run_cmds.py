"""``unitrain fit``, ``eval`` and ``predict``: a run config turned into work."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from unitrain.cli.build import (
    RunData,
    build_trainer,
    load_data,
    load_enabled_plugins,
    progress_plugins,
)
from unitrain.cli.trained import (
    CONFIG_FILE,
    MODEL_FILE,
    final_state,
    latest_run,
    resolve_source,
)
from unitrain.config import RunConfig, dump_toml, load_run_config
from unitrain.config.builtins import available_plugins
from unitrain.core.state import State
from unitrain.errors import ConfigError
from unitrain.hooks.entrypoints import PluginEntry
from unitrain.log import get_logger
from unitrain.plugins.run_store import RUN_DIR, RunStore
from unitrain.runs.checkpoint import newest_valid
from unitrain.trainer import Trainer

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cmd_eval", "cmd_fit", "cmd_predict", "resume_command"]

log = get_logger("cli")


def load_config(
    args: argparse.Namespace,
    path: Path | None = None,
    available: Mapping[str, Sequence[PluginEntry]] | None = None,
) -> RunConfig:
    """The command's run config, every problem (plugins included) reported at once."""
    plugins = None if args.lenient_plugins else list(args.plugin)
    return load_run_config(
        path or args.config, args.overrides, plugins=plugins, available=available
    )


def cmd_fit(args: argparse.Namespace, console: Console) -> int:
    """Train; the run folder gets the resolved config, metrics, checkpoints and status.

    The run store's plugins do the recording (:class:`~unitrain.plugins.RunStore`,
    :class:`~unitrain.plugins.Checkpoint`); this command adds the resolved config and the
    final weights, and prints ``run: <folder>`` on stdout for scripts. Stopped by Ctrl-C or
    SIGTERM, it prints the command that continues the run.
    """
    # read once: checking the config and loading the plugins both need every entry point
    available = available_plugins()
    config = load_config(args, available=available)
    resolved = config.model_dump(mode="json")
    if args.print_config:
        sys.stdout.write(dump_toml(resolved))
        return 0
    loaded, strict = load_enabled_plugins(
        config, args.plugin, lenient=args.lenient_plugins, available=available
    )
    chosen = {item.entry.name for item in loaded}
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
    # imported only when the config wants them (a run without them loads neither module)
    if config.run.metrics_every_n_steps:
        from unitrain.report.lr_log import LearningRateLog

        recording.append(LearningRateLog(config.run.metrics_every_n_steps))
    if config.run.checkpoint_every_n_epochs and "checkpoint" not in chosen:
        from unitrain.plugins.checkpoint import Checkpoint

        recording.append(Checkpoint(every_n_epochs=config.run.checkpoint_every_n_epochs))
    # A built-in enabled by name, with its options, replaces the command's default one.
    shown = [] if "progress" in chosen else progress_plugins(config, console, args.plain)
    trainer = build_trainer(config, loaded, strict=strict, builtins=[*shown, *recording])
    log.debug("plugins: %s", ", ".join(trainer.plugins.names))
    try:
        trainer.fit(data.train, eval_data=data.eval, resume=args.resume)
    except (KeyboardInterrupt, SystemExit):
        _tell_how_to_resume(args, trainer)
        raise
    run = trainer.state.stash.get(RUN_DIR)
    if run is not None and trainer.state.is_main_process:
        torch.save(trainer.state_dict(), run.artifacts / MODEL_FILE)
        log.info("run completed after %d steps", trainer.state.global_step)
    return 0


def resume_command(args: argparse.Namespace, run: Path) -> str:
    """The exact command that continues ``run``: the same config, overrides and plugins."""
    words = ["unitrain", "fit", str(args.config), "--resume", str(run)]
    for override in args.overrides:
        words += ["--set", override]
    for plugin in args.plugin:
        words += ["-p", plugin]
    if args.lenient_plugins:
        words.append("--lenient-plugins")
    if args.plain:
        words.append("--plain")
    return shlex.join(words)


def _tell_how_to_resume(args: argparse.Namespace, trainer: Trainer) -> None:
    run = trainer.state.stash.get(RUN_DIR)
    if run is None or not trainer.state.is_main_process:
        return
    checkpoints = run.checkpoints
    found = newest_valid(checkpoints)[0] if checkpoints.is_dir() else None
    if found is None:
        print(f"stopped before any checkpoint of {run.path}; start again with: unitrain fit "
              f"{shlex.quote(str(args.config))}", file=sys.stderr, flush=True)  # fmt: skip
        return
    print(
        f"stopped; checkpoint {found.name} is saved. Continue with:\n"
        f"  {resume_command(args, run.path)}",
        file=sys.stderr,
        flush=True,
    )


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
    """Evaluate every split of the data's ``eval`` (or ``--split``), print a table and
    write it to ``<run>/artifacts/eval-<time>.json``."""
    from rich.table import Table  # here: `fit` never draws a table

    from unitrain.cli.info_cmds import stdout_console

    config, trainer, data, run = _trained(args, console, "eval")
    splits = _splits(data.eval)
    if args.split is not None:
        if args.split not in splits:
            raise ConfigError(f"--split {args.split!r}: the data has splits {sorted(splits)}")
        splits = {args.split: splits[args.split]}
    if not splits:
        raise ConfigError(f"data function {config.data!r} returned no 'eval' data to evaluate")
    table = Table("split", "metric", "value", title="evaluation")
    results: dict[str, dict[str, float]] = {}
    for split, loader in splits.items():
        results[split] = trainer.evaluate(loader, split=split)
        for name, value in results[split].items():
            table.add_row(split, name, f"{value:.6g}")
    stdout_console().print(table)
    if run is not None:
        out = run / "artifacts" / f"eval-{time.strftime('%Y%m%dT%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"evaluation: written to {out}", flush=True)
    return 0


def cmd_predict(args: argparse.Namespace, console: Console) -> int:
    """Predict the data's ``predict`` (else its first eval split) and save the outputs into
    the run folder (``artifacts/predictions.pt``) or ``--out``."""
    config, trainer, data, run = _trained(args, console, "predict")
    out: Path | None = args.out or (run / "artifacts" / "predictions.pt" if run else None)
    if out is None:
        raise ConfigError("predict --untrained: there is no run folder to save into; pass --out")
    source = data.predict
    if source is None:
        splits = _splits(data.eval)
        if not splits:
            raise ConfigError(f"data function {config.data!r} returned no 'predict' or 'eval'")
        source = next(iter(splits.values()))
    outputs = trainer.predict(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(outputs, out)
    print(f"predictions: {len(outputs)} batches saved to {out}", flush=True)
    return 0


def _trained(
    args: argparse.Namespace, console: Console, command: str
) -> tuple[RunConfig, Trainer, RunData, Path | None]:
    source = resolve_source(args, command)
    available = available_plugins()
    config = load_config(args, source.config, available)
    run = source.run
    if run is None and args.run == "latest":
        run = latest_run(config)
    state = final_state(run) if run is not None else None  # a bad run folder fails early
    loaded, strict = load_enabled_plugins(
        config, args.plugin, lenient=args.lenient_plugins, available=available
    )
    data = load_data(config)
    trainer = build_trainer(
        config, loaded, strict=strict, builtins=progress_plugins(config, console, args.plain)
    )
    if state is None:
        log.warning("--untrained: using the task's untrained model")
    else:
        assert trainer.state.model is not None
        # Only the weights: the other plugins' state (run store, checkpoints) is for resuming.
        trainer.state.model.load_state_dict(state["model"])
        log.info("weights of %s", run)
    return config, trainer, data, run


def _splits(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if isinstance(data, Mapping):
        return {str(k): v for k, v in data.items()}
    return {"val": data}
