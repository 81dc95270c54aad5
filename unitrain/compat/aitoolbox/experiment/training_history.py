"""``aitoolbox.experiment.training_history``: metric name → list of per-epoch values."""

from __future__ import annotations

import copy
from collections.abc import ItemsView, Iterator, KeysView, Mapping
from typing import Any

from unitrain.compat.aitoolbox.utils.dict_util import flatten_combine_dict
from unitrain.errors import ConfigError, ConfigTypeError

__all__ = ["TrainingHistory"]


def _defaults(has_validation: bool) -> dict[str, list[Any]]:
    keys = (
        ("loss", "accumulated_loss", "val_loss") if has_validation else ("loss", "accumulated_loss")
    )
    return {key: [] for key in keys}


class TrainingHistory:
    """Per-epoch results keyed by metric name, used like a dict.

    Conventional keys: ``accumulated_loss`` (mean training batch loss of the epoch),
    ``loss`` (train-set loss evaluated at the epoch's end), ``val_loss``,
    ``train_end_test_loss``, ``train_<metric>``, ``val_<metric>``. Multi-loss models add
    one ``<key>_<loss name>`` entry per loss. ``history[name] = value`` and ``history +
    {name: value}`` append one value, as in aitoolbox.
    """

    def __init__(self, has_validation: bool = True, strict_content_check: bool = False) -> None:
        self.train_history: dict[str, list[Any]] = _defaults(has_validation)
        self.empty_train_history: dict[str, list[Any]] = _defaults(has_validation)
        self.strict_content_check = strict_content_check

    def insert_single_result_into_history(self, metric_name: str, metric_result: Any) -> None:
        """Append ``metric_result`` to ``metric_name``'s values (a new metric starts a list)."""
        self.train_history.setdefault(metric_name, []).append(metric_result)

    def get_train_history(self) -> dict[str, list[Any]]:
        """The history dict itself, unchanged."""
        return self.train_history

    def get_train_history_dict(self, flatten_dict: bool = False) -> dict[str, list[Any]]:
        """The history, checked for emptiness; ``flatten_dict`` turns per-epoch dicts into
        ``<metric>_<key>`` lists and leaves out metrics without values."""
        if self.train_history == self.empty_train_history:
            self.warn_about_result_data_problem("Train History dict is empty")
        return flatten_combine_dict(self.train_history) if flatten_dict else self.train_history

    def wrap_pre_prepared_history(self, history: dict[str, list[Any]]) -> TrainingHistory:
        """Use ``history`` (e.g. read from a results file) as the content; returns self."""
        self.train_history = history
        return self

    def qa_check_history_records(self) -> None:
        """Report metrics whose number of values differs from the first metric's."""
        if not self.train_history:
            return
        names = list(self.train_history)
        expected = len(self.train_history[names[0]])
        for name in names[1:]:
            found = len(self.train_history[name])
            if found != expected:
                self.warn_about_result_data_problem(
                    f"TrainingHistory: {name!r} has {found} values but {names[0]!r} has "
                    f"{expected}; every metric should have one value per epoch"
                )

    def warn_about_result_data_problem(self, msg: str) -> None:
        """Raise ``msg`` as a ConfigError (a ValueError) when strict, else print it."""
        if self.strict_content_check:
            raise ConfigError(msg)
        print(msg)

    def add_history_dict(self, other: Mapping[str, Any]) -> None:
        """Append each value of ``other`` (metric name → one value) to the history."""
        if not isinstance(other, dict):
            raise ConfigTypeError(
                f"TrainingHistory: can only add a dict of metric name -> value, got "
                f"{type(other).__name__}"
            )
        for name, value in other.items():
            self.insert_single_result_into_history(name, value)

    def __add__(self, other: Mapping[str, Any]) -> TrainingHistory:
        combined = copy.deepcopy(self)
        combined.add_history_dict(other)
        return combined

    __radd__ = __add__

    def __iadd__(self, other: Mapping[str, Any]) -> TrainingHistory:
        self.add_history_dict(other)
        return self

    def __getitem__(self, metric_name: str) -> list[Any]:
        try:
            return self.train_history[metric_name]
        except KeyError:
            raise KeyError(
                f"{metric_name!r} is not in the training history; it holds "
                f"{list(self.train_history)}"
            ) from None

    def __setitem__(self, metric_name: str, value: Any) -> None:
        self.insert_single_result_into_history(metric_name, value)

    def get(self, metric_name: str, default: Any = None) -> Any:
        """The values of ``metric_name``, or ``default``."""
        return self.train_history.get(metric_name, default)

    def get_epoch_from_history(self, epoch: int) -> dict[str, Any]:
        """Every metric's value at ``epoch`` (metrics without a value there are left out)."""
        return {k: v[epoch] for k, v in self.train_history.items() if -len(v) <= epoch < len(v)}

    def __contains__(self, metric_name: object) -> bool:
        return metric_name in self.train_history

    def __iter__(self) -> Iterator[str]:
        return iter(self.train_history)

    def __len__(self) -> int:
        return len(self.train_history)

    def keys(self) -> KeysView[str]:
        """The metric names."""
        return self.train_history.keys()

    def items(self) -> ItemsView[str, list[Any]]:
        """``(metric name, values)`` pairs."""
        return self.train_history.items()

    def __str__(self) -> str:
        return str(self.train_history)
