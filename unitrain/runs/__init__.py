"""Runs: the run store, checkpoints, exact resume, signals and the NaN policy."""

from unitrain.runs.store import RunDir, RunStatus, create_run

__all__ = ["RunDir", "RunStatus", "create_run"]
