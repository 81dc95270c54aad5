"""What every task stage shares: the model, its losses and metrics, one step's computation.

Each method is a step of the meta-algorithm that a subclass may override (and call with
``super()``): ``split_batch`` → ``forward`` → ``compute_losses`` / ``compute_metrics`` →
``compute_step``. Which of them a class overrides is checked once, when the class is made
(``default_steps``), as TorchTNT finds a hook's overriders once: while none is, the
training stage runs their work as one flat function for plain ``(inputs, targets)``
batches (:meth:`unitrain.tasks.train.TrainStages.run_forward`), a handful of Python calls
fewer per step with the same result. Assigning one of them on an instance counts too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import torch

from unitrain.core.batch import split_batch
from unitrain.core.contract import IMiniBatch
from unitrain.core.metrics import IDatasetMetric
from unitrain.core.multi_step import MANUAL, ManualOptimization
from unitrain.core.result import StepResult
from unitrain.core.state import Optimization
from unitrain.core.stateful_metric import StatefulMetric, is_stateful_metric
from unitrain.errors import ConfigError, StageError
from unitrain.tasks.compiling import CompileOption, check_compile_option, compile_forward
from unitrain.tasks.optimizers import (
    OptimizerLoss,
    OptimizerSpec,
    as_manual_result,
    as_optimizer_result,
    check_loss_keys,
    choose_optimization,
    optimizer_names,
)

__all__ = [
    "REWEIGHT",
    "STEPS",
    "OptimizerFactory",
    "TaskBase",
    "batch_size_of",
    "is_descriptor",
    "total_loss",
    "weight_source",
]

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]
LossFn = Callable[..., torch.Tensor]

STEPS = ("compute_step", "split_batch", "forward", "compute_losses", "compute_metrics")
"""The overridable steps of one batch's computation."""


class TaskBase:
    """The model and what is computed from it; a plugin named ``task`` in the trainer."""

    unitrain_defaults: ClassVar[bool] = True  # its stages answer only when no plugin does
    optimization: Optimization = "automatic"
    """How the training step optimizes (set in ``__init__``; see unitrain.core.multi_step)."""
    manual_optimization: ClassVar[bool] = False
    """Set ``True`` in a subclass (or pass ``manual_optimization=True``) to optimize by hand
    in :meth:`manual_step`: the engine then does no backward pass and no optimizer step."""
    default_steps: ClassVar[bool] = True
    """Whether this class (and instance) runs :class:`TaskBase`'s own :data:`STEPS`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.default_steps = all(getattr(cls, n) is getattr(TaskBase, n) for n in STEPS)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in STEPS:  # task.forward = ...: this instance no longer runs the defaults
            object.__setattr__(self, "default_steps", False)
        object.__setattr__(self, name, value)

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        loss: LossFn | None = None,
        losses: Mapping[str, LossFn] | None = None,
        metrics: Mapping[str, Callable[..., Any]] | None = None,
        dataset_metrics: Mapping[str, IDatasetMetric] | None = None,
        optimizer: OptimizerSpec | None = None,
        scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
        regularizer_reweight: float = 1.0,
        optimizer_losses: Mapping[str | int, OptimizerLoss] | None = None,
        manual_optimization: bool | None = None,
        compile: CompileOption = False,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise ConfigError(f"Task(model=...): expected a torch.nn.Module, got {type(model)!r}")
        options = check_compile_option(compile)
        if loss is not None and losses is not None:
            raise ConfigError("Task: give loss= (one loss) or losses= (named losses), not both")
        if optimizer is not None and not (
            isinstance(optimizer, torch.optim.Optimizer | Mapping | Sequence) or callable(optimizer)
        ):
            raise ConfigError(
                f"Task(optimizer=...): expected an optimizer or a function of the parameters "
                "that makes one (or a sequence of optimizers, or a mapping {name: optimizer}), "
                f"got {type(optimizer).__name__}"
            )
        #: the names of ``optimizer={name: ...}`` (index order), else None
        self.optimizer_names = optimizer_names(optimizer)
        self.optimizer_losses: dict[str | int, OptimizerLoss] = dict(optimizer_losses or {})
        if optimizer_losses is not None:
            if not self.optimizer_losses:
                raise ConfigError("Task(optimizer_losses={}): give one loss per optimizer")
            count = (
                None
                if self.optimizer_names or not isinstance(optimizer, Sequence)
                else len(optimizer)
            )
            check_loss_keys(self.optimizer_losses, self.optimizer_names, count)
        manual = (
            type(self).manual_optimization if manual_optimization is None else manual_optimization
        )
        per_optimizer = bool(self.optimizer_losses) or (
            type(self).compute_optimizer_step is not TaskBase.compute_optimizer_step
        )
        self.optimization = choose_optimization(
            bool(manual), per_optimizer, loss is not None or bool(losses)
        )
        # run_forward's flat one-loss pass applies to automatic optimization only; kept on
        # the instance even when it equals the class's value: run_forward reads it every
        # step, and CPython 3.11 specializes reading an instance's own attribute only
        default = type(self).default_steps and self.optimization == "automatic"
        object.__setattr__(self, "default_steps", default)
        self.model = model
        self.losses: dict[str, LossFn] = dict(losses or ({} if loss is None else {"loss": loss}))
        self.metrics = dict(metrics or {})
        self.dataset_metrics = dict(dataset_metrics or {})
        for name in [n for n, m in self.metrics.items() if is_stateful_metric(m)]:
            # torchmetrics and its kind: computed over the pass, not averaged per batch
            self.dataset_metrics[name] = StatefulMetric(name, self.metrics.pop(name))
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.regularizer_reweight = regularizer_reweight
        # id(loss) -> (loss, where its weight is read); emptied when a fit starts
        self.weight_sources: dict[int, tuple[LossFn, WeightSource]] = {}
        #: the ``torch.compile`` keyword arguments the model's forward was compiled with
        #: (``None``: not compiled); see :mod:`unitrain.tasks.compiling`
        self.compile_options = options
        if options is not None:  # last: a refused task leaves the user's module untouched
            compile_forward(model, options)

    # ------------------------------------------------------------ overridable steps

    def split_batch(self, batch: Any) -> tuple[Any, Any]:
        """``(inputs, targets)`` of a plain batch."""
        return split_batch(batch)

    def forward(self, inputs: Any) -> Any:
        """Run the model. For a minibatch the model fills it in place and may return a
        regularizer loss; for plain batches it returns the outputs."""
        return self.model(inputs)

    def compute_losses(
        self, batch: Any, outputs: Any, targets: Any
    ) -> dict[str, tuple[float, torch.Tensor]]:
        """Every loss as ``(reweight, raw)``: ``loss(mb)`` for minibatches, else
        ``loss(outputs, targets)``; the weight is the loss's ``loss_reweight`` (or 1.0)."""
        weight = self.loss_weight
        if isinstance(batch, IMiniBatch):
            return {n: (weight(fn), fn(batch)) for n, fn in self.losses.items()}
        return {n: (weight(fn), fn(outputs, targets)) for n, fn in self.losses.items()}

    def compute_metrics(self, batch: Any, outputs: Any, targets: Any) -> dict[str, torch.Tensor]:
        """Every metric as a batch mean, computed without building a graph."""
        values: dict[str, torch.Tensor] = {}
        if not self.metrics:  # entering no_grad costs ~2 µs a step; skip it when unused
            return values
        with torch.no_grad():
            for name, metric in self.metrics.items():
                value = metric(batch) if isinstance(batch, IMiniBatch) else metric(outputs, targets)
                value = torch.as_tensor(value)
                values[name] = value if value.dim() == 0 else value.float().mean()
        return values

    def compute_step(self, batch: Any) -> StepResult:
        """Forward pass, losses and metrics of one batch."""
        if isinstance(batch, IMiniBatch):
            batch.model = self.model
            regularizer = self.forward(batch)
            outputs: Any = None
            targets: Any = None
            size = batch.nopad_batch_size
        else:
            inputs, targets = self.split_batch(batch)
            outputs = self.forward(inputs)
            regularizer = None
            size = batch_size_of(inputs)
        losses = self.compute_losses(batch, outputs, targets)
        if isinstance(regularizer, torch.Tensor):
            losses["regularizer"] = (self.regularizer_reweight, regularizer)
        return StepResult(
            loss=total_loss(losses),
            losses=losses,
            metrics=self.compute_metrics(batch, outputs, targets),
            outputs=outputs,
            targets=targets,
            batch_size=size,
        )

    def loss_weight(self, loss: LossFn) -> float:
        """The weight of ``loss`` now: the instance's own ``loss_reweight``, else its
        class's (a property is asked), else 1.0. Read at every step (an annealing plugin
        may change either between steps) through a source found once per loss and fit (a
        class that had no ``loss_reweight`` when the fit started counts as having none
        until the next fit; its instances' own values count at once)."""
        entry = self.weight_sources.get(id(loss))
        if entry is None or entry[0] is not loss:
            entry = self.weight_sources[id(loss)] = (loss, weight_source(loss))
        # Through the source, not getattr(loss, name, default): on an nn.Module without the
        # attribute that formats and raises an AttributeError inside Module.__getattr__, and
        # getattr(type(loss), name, default) one inside the type's lookup (~2.5 k
        # instructions per loss and step); reading a Module's __dict__ costs ~0.5 k itself.
        own, kind = entry[1]
        value: Any = own.get(REWEIGHT)
        if value is None:
            if kind is None:
                return 1.0
            value = getattr(kind, REWEIGHT, 1.0)
            if type(value) is not float and is_descriptor(value):
                value = getattr(loss, REWEIGHT)
        return value if type(value) is float else float(value)

    def compute_optimizer_step(self, batch: Any, optimizer_idx: int) -> StepResult | torch.Tensor:
        """Optimizer ``optimizer_idx``'s loss on ``batch`` (per-optimizer optimization):
        its ``optimizer_losses`` entry (by name when the optimizers are named, else by
        index) called as ``fn(self.model, batch)``. Runs once per optimizer per batch, in
        order, after the optimizers before it stepped; override it to compute the losses
        yourself (which turns per-optimizer optimization on)."""
        names = self.optimizer_names
        key: str | int = optimizer_idx if names is None else names[optimizer_idx]
        function = self.optimizer_losses.get(key)
        if function is None:
            raise StageError(
                f"no loss for optimizer {key!r}: optimizer_losses has {list(self.optimizer_losses)}"
                "; give every optimizer a loss"
            )
        return function(self.model, batch)

    def manual_step(self, batch: Any, manual: ManualOptimization) -> Any:
        """One batch of manual optimization: compute losses, ``manual.backward(loss)``,
        ``manual.step(i)`` for each optimizer to step. Returns ``None``, a loss tensor or a
        StepResult, for the plugins that log it. Override it when ``manual_optimization``."""
        raise StageError(
            f"{type(self).__name__} optimizes by hand (manual_optimization=True) but does not "
            "override manual_step(self, batch, manual); implement it: compute the losses, "
            "call manual.backward(loss) and manual.step(optimizer_idx)"
        )

    def optimization_step(self, state: Any, batch: Any) -> StepResult:
        """The training forward of per-optimizer or manual optimization."""
        size = self._size_of(batch)
        if self.optimization == "manual":
            return as_manual_result(self.manual_step(batch, state.stash[MANUAL]), size)
        index = state.optimizer_idx
        if index is None:
            raise StageError(
                "per-optimizer optimization: run_forward was called without "
                "state.optimizer_idx; a plugin that calls the training forward itself must "
                "set it (the engine's per-optimizer step does)"
            )
        names = self.optimizer_names
        label: str | int = index if names is None else names[index]
        return as_optimizer_result(self.compute_optimizer_step(batch, index), label, size)

    def check_optimizers(self, count: int) -> None:
        """At fit start: ``optimizer_losses`` names each of the ``count`` optimizers."""
        if self.optimization == "per_optimizer" and self.optimizer_losses:
            check_loss_keys(self.optimizer_losses, self.optimizer_names, count)

    @staticmethod
    def _size_of(batch: Any) -> int:
        if isinstance(batch, IMiniBatch):
            return int(batch.nopad_batch_size)
        if isinstance(batch, tuple | list) and batch:
            return batch_size_of(batch[0])
        return batch_size_of(batch)

    def require_loss(self, result: StepResult) -> torch.Tensor:
        """``result.loss``, or a StageError saying how to give the task a loss."""
        if result.loss is None:
            raise StageError(
                "the training step produced no loss: give unitrain.Task a loss= or losses=, "
                "or override compute_losses / run_forward to return a StepResult with loss"
            )
        return result.loss


REWEIGHT = "loss_reweight"


WeightSource = tuple[Mapping[str, Any], type | None]
"""Where a loss's weight is read: its own ``__dict__``, and its class when a class of its MRO
defines ``loss_reweight`` (``None``: none did when the source was made)."""


def weight_source(loss: LossFn) -> WeightSource:
    """Where ``loss``'s weight is read (see :data:`WeightSource`); found once per loss and
    fit by the task (:meth:`TaskBase.loss_weight`)."""
    own = getattr(loss, "__dict__", None)
    kind = type(loss)
    defines = any(REWEIGHT in klass.__dict__ for klass in kind.__mro__)
    return (_NO_DICT if own is None else own), (kind if defines else None)


_NO_DICT: Mapping[str, Any] = {}


def is_descriptor(value: object) -> bool:
    """Whether a class attribute computes what an instance reads (a property, say)."""
    return not isinstance(value, int | float) and hasattr(type(value), "__get__")


def total_loss(losses: dict[str, tuple[float, torch.Tensor]]) -> torch.Tensor | None:
    total: torch.Tensor | None = None
    for weight, raw in losses.values():
        term = raw if weight == 1.0 else raw * weight  # exact parity with an unweighted loop
        total = term if total is None else total + term
    return total


def batch_size_of(inputs: Any) -> int:
    if isinstance(inputs, torch.Tensor) and inputs.dim() > 0:
        return int(inputs.shape[0])
    if isinstance(inputs, tuple | list) and inputs:
        return batch_size_of(inputs[0])
    if isinstance(inputs, Mapping) and inputs:
        return batch_size_of(next(iter(inputs.values())))
    return 1
