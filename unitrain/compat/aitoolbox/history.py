"""``TrainingHistory``: metric name → list of per-epoch values, as aitoolbox kept it."""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView
from typing import Any

from unitrain.errors import ConfigError

__all__ = ["TrainingHistory"]


class TrainingHistory:
    """Per-epoch results keyed by metric name.

    Conventional keys: ``accumulated_loss`` (mean training batch loss of the epoch),
    ``loss`` (train-set loss evaluated at the epoch's end), ``val_loss``,
    ``train_end_test_loss``, ``train_<metric>``, ``val_<metric>``. Multi-loss models add
    one ``<key>_<loss name>`` entry per loss.
    """

    def __init__(self, has_validation: bool = True, strict_content_check: bool = False) -> None:
        self.has_validation = has_validation
        self.strict_content_check = strict_content_check
        self.train_history: dict[str, list[Any]] = {"loss": [], "accumulated_loss": []}
        if has_validation:
            self.train_history["val_loss"] = []

    def insert_single_result_into_history(
        self, metric_name: str, metric_result: Any, epoch: int | None = None
    ) -> None:
        """Append ``metric_result`` to ``metric_name`` (or set it at index ``epoch``)."""
        values = self.train_history.setdefault(metric_name, [])
        if epoch is None:
            values.append(metric_result)
            return
        if epoch < len(values):
            values[epoch] = metric_result
            return
        if self.strict_content_check and epoch != len(values):
            raise ConfigError(
                f"TrainingHistory: cannot insert {metric_name!r} at epoch {epoch}; it has "
                f"values for {len(values)} epochs only (strict_content_check=True)"
            )
        values.extend([None] * (epoch - len(values)))
        values.append(metric_result)

    def wrap_pre_prepared_history(self, history: dict[str, list[Any]]) -> TrainingHistory:
        """Replace the content with ``history`` (e.g. loaded from disk); returns self."""
        self.train_history = {str(k): list(v) for k, v in history.items()}
        return self

    def get_epoch_from_history(self, epoch: int) -> dict[str, Any]:
        """Every metric's value at ``epoch`` (metrics without a value there are left out)."""
        return {k: v[epoch] for k, v in self.train_history.items() if -len(v) <= epoch < len(v)}

    def _is_empty(self) -> bool:
        return all(len(v) == 0 for v in self.train_history.values())

    def __getitem__(self, metric_name: str) -> list[Any]:
        try:
            return self.train_history[metric_name]
        except KeyError:
            raise KeyError(
                f"{metric_name!r} is not in the training history; it holds "
                f"{sorted(self.train_history)}"
            ) from None

    def __setitem__(self, metric_name: str, values: list[Any]) -> None:
        self.train_history[metric_name] = values

    def get(self, metric_name: str, default: Any = None) -> Any:
        """The values of ``metric_name``, or ``default``."""
        return self.train_history.get(metric_name, default)

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
