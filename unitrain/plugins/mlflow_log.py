"""MLflow logger: params, and the values :class:`~unitrain.plugins.metrics_log.MetricsLog`
writes, into an MLflow run (rank 0 only; needs the ``mlflow`` extra).

The module is named ``mlflow_log`` and imports MLflow by absolute name when a logger is made,
so neither ``import unitrain`` nor this module needs MLflow installed.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from unitrain.errors import ConfigError
from unitrain.plugins.run_store import RUN_DIR
from unitrain.plugins.scalar_logger import ScalarLogger

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["MlflowLog", "flatten_params", "trainer_params"]

_INSTALL = "pip install 'unitrain[mlflow]'  (or: pip install mlflow-skinny sqlalchemy alembic)"
_MAX_PARAM = 6000  # MLflow refuses longer param values (and fails the whole batch)


def _import_mlflow(sql: bool) -> SimpleNamespace:
    """The parts of MLflow the logger uses, imported only when a logger is made.

    ``sql``: the tracking URI is a SQLite one, whose store needs SQLAlchemy and alembic
    (``mlflow`` depends on them, ``mlflow-skinny`` does not).
    """
    try:
        tracking = importlib.import_module("mlflow.tracking")
        entities = importlib.import_module("mlflow.entities")
        exceptions = importlib.import_module("mlflow.exceptions")
        if sql:
            importlib.import_module("sqlalchemy")
            importlib.import_module("alembic")
    except ImportError as error:
        what = "a SQLite tracking URI" if sql else "MlflowLog"
        raise ConfigError(
            f"{what} needs packages that are not importable ({error}); "
            f"install them with: {_INSTALL}"
        ) from None
    return SimpleNamespace(
        Client=tracking.MlflowClient,
        Metric=entities.Metric,
        Param=entities.Param,
        MlflowException=exceptions.MlflowException,
    )


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"optim": {"lr": 0.1}}`` → ``{"optim.lr": "0.1"}`` (values as MLflow stores them)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, f"{name}."))
        else:
            flat[name] = str(value)[:_MAX_PARAM]
    return flat


def trainer_params(state: State) -> dict[str, Any]:
    """The run's parameters as the trainer knows them, for a fit without a run config:
    ``trainer.*`` (length, accumulation, device, world size), ``model.*`` (class, number of
    parameters), ``optimizer.<i>.*`` (class and the first parameter group's scalar
    hyperparameters: lr, momentum, betas, weight decay, ...)."""
    params: dict[str, Any] = {
        "trainer": {
            "max_epochs": state.max_epochs,
            "max_steps": state.max_steps,
            "accumulation": state.accumulation,
            "device": str(state.device),
            "world_size": state.world_size,
        }
    }
    if state.model is not None:
        params["model"] = {
            "class": type(state.model).__qualname__,
            "parameters": sum(p.numel() for p in state.model.parameters()),
        }
    for index, optimizer in enumerate(state.optimizers):
        group = optimizer.param_groups[0] if optimizer.param_groups else {}
        hyper = {
            key: value
            for key, value in group.items()
            if key != "params" and isinstance(value, int | float | str | bool | tuple)
        }
        params.setdefault("optimizer", {})[str(index)] = {
            "class": type(optimizer).__name__,
            **hyper,
        }
    return params


class MlflowLog(ScalarLogger):
    """Log to an MLflow run: params once, metrics with their global step, the end status.

    ``tracking_uri`` defaults to ``sqlite:///<run dir>/mlflow.db`` of the
    :class:`~unitrain.plugins.RunStore` registered beside it, and without one to
    ``sqlite:///runs/mlflow.db`` (one database, a new MLflow run per fit; any MLflow URI
    works, e.g. ``http://host:5000``). ``experiment`` defaults to the run store's experiment,
    ``run_name`` to the run directory's name, ``params`` to the run store's ``config``
    (nested dicts flattened with dots), and without a run store to what the trainer knows of
    the run: its length settings, the device, the model's class and size, each optimizer's
    class and hyperparameters (see :func:`trainer_params`). Metric keys are
    ``<split>/<name>``: ``train/loss`` every ``every_n_steps`` optimizer steps (one host
    read then, none in between), ``train_epoch/<name>`` the epoch means (summed on the
    device), and every value of every evaluation.

    The run ends ``FINISHED`` at fit end, ``FAILED`` on an exception (``KILLED`` on
    KeyboardInterrupt / SystemExit, e.g. preemption). The run id goes into checkpoints, so a
    resumed fit continues the same MLflow run. MLflow cannot delete logged values: after a
    resume at step T, the history keeps what the interrupted attempt logged after T beside the
    new values (the run is tagged ``unitrain.resumed_at_step``); the latest value per key
    is the resumed one.
    """

    name = "mlflow_log"
    ranks = "main"

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        experiment: str | None = None,
        run_name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        every_n_steps: int | None = 50,
    ) -> None:
        super().__init__(every_n_steps)
        self._mlflow = _import_mlflow(
            sql=tracking_uri is None or tracking_uri.startswith("sqlite:")
        )
        self.tracking_uri = tracking_uri
        self.experiment, self.run_name = experiment, run_name
        self.params = None if params is None else dict(params)
        self.tags = dict(tags or {})
        self.client: Any = None  # an MlflowClient once a run is open
        self.run_id: str | None = None
        self._resume_run_id: str | None = None

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """The MLflow run id, so a resumed fit logs into the same run."""
        return {"run_id": self.run_id}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Remember the run to continue at the next fit start."""
        self._resume_run_id = saved.get("run_id")

    # ------------------------------------------------------------------ the fit

    def on_fit_start(self, state: State) -> None:
        self._fitting = True
        if state.dry_run:  # fast_dev_run writes nothing
            return
        self._start(state)
        if state.global_step > 0 and self.run_id is not None:
            self.client.set_tag(self.run_id, "unitrain.resumed_at_step", str(state.global_step))

    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        if state.dry_run:  # fast_dev_run writes nothing
            return
        if self.client is None:
            self._start(state)
        self.write(state, split, metrics)
        if not self._fitting:  # a standalone evaluate() has no fit end to end the run
            self._end("FINISHED")

    def on_fit_end(self) -> None:
        self._end("FINISHED")

    def on_exception(self, error: BaseException) -> None:
        if self.client is not None and self.run_id is not None:
            message = f"{type(error).__name__}: {error}"[:_MAX_PARAM]
            self.client.set_tag(self.run_id, "unitrain.error", message)
        interrupted = isinstance(error, KeyboardInterrupt | SystemExit)  # incl. Preempted
        self._end("KILLED" if interrupted else "FAILED")

    # ------------------------------------------------------------------ helpers

    def resolved_tracking_uri(self, state: State) -> str:
        """``tracking_uri``, else the run directory's SQLite file; an error if neither."""
        if self.tracking_uri is not None:
            return self.tracking_uri
        run = state.stash.get(RUN_DIR)
        if run is None:
            os.makedirs("runs", exist_ok=True)
            return f"sqlite:///{os.path.abspath(os.path.join('runs', 'mlflow.db'))}"
        return f"sqlite:///{os.path.abspath(run.path / 'mlflow.db')}"

    def _start(self, state: State) -> None:
        client = self._mlflow.Client(tracking_uri=self.resolved_tracking_uri(state))
        run_id, self._resume_run_id = self._resume_run_id or self.run_id, None
        if run_id is not None:  # a resumed fit, or another fit of the same trainer
            try:
                client.update_run(run_id, status="RUNNING")
            except self._mlflow.MlflowException:  # not in this store (another tracking URI)
                run_id = None
        if run_id is None:
            run_id = self._create_run(client, state)
        self.client, self.run_id = client, run_id

    def _create_run(self, client: Any, state: State) -> str:
        run_dir = state.stash.get(RUN_DIR)
        info = run_dir.info() if run_dir is not None else {}
        name = self.experiment or info.get("experiment") or "default"
        found = client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found is not None else client.create_experiment(name)
        run_name = self.run_name or (run_dir.name if run_dir is not None else None)
        tags = {**self.tags, **({"unitrain.run_dir": str(run_dir.path)} if run_dir else {})}
        run = client.create_run(experiment_id, run_name=run_name, tags=tags)
        given = self.params if self.params is not None else info.get("config")
        params = flatten_params(given if given is not None else trainer_params(state))
        if params:
            Param = self._mlflow.Param
            entries = [Param(key, value) for key, value in params.items()]
            for i in range(0, len(entries), 100):  # MLflow takes at most 100 params a call
                client.log_batch(run.info.run_id, params=entries[i : i + 100])
        return str(run.info.run_id)

    def _end(self, status: str) -> None:
        self._fitting = False
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)
        self.client = None

    def write(self, state: State, split: str, values: dict[str, Any]) -> None:
        if self.client is None or self.run_id is None:
            return
        now = int(time.time() * 1000)
        Metric = self._mlflow.Metric
        metrics = [
            Metric(f"{split}/{name}", float(value), now, state.global_step)
            for name, value in values.items()
        ]
        self.client.log_batch(self.run_id, metrics=metrics)
