"""``AbstractBaseMetric``: one named metric, computed when the object is built."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from unitrain.errors import ConfigError, ConfigTypeError

__all__ = ["AbstractBaseMetric"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class AbstractBaseMetric(ABC):
    """Subclasses implement :meth:`calculate_metric` on ``self.y_true`` / ``self.y_predicted``.

    The result is in ``metric_result``; metrics compare (``<``, ``>=``, ...) with numbers
    and other scalar metrics, look up like a dict (``"name" in metric``, ``metric[name]``)
    and add (``metric + other`` → a merged ``{name: result}`` dict).
    """

    def __init__(
        self, y_true: Any, y_predicted: Any, metric_name: str, np_array: bool = True
    ) -> None:
        self.y_true = np.array(y_true) if np_array else y_true
        self.y_predicted = np.array(y_predicted) if np_array else y_predicted
        self.metric_name = metric_name
        self.metric_result: Any = None
        self.metric_result = self.calculate_metric()

    @abstractmethod
    def calculate_metric(self) -> Any:
        """Compute and return the metric from ``y_true`` and ``y_predicted``."""

    def get_metric(self) -> Any:
        """The computed result."""
        return self.metric_result

    def get_metric_dict(self) -> dict[str, Any]:
        """``{metric_name: metric_result}``."""
        return {self.metric_name: self.metric_result}

    def __str__(self) -> str:
        return f"{self.metric_name}: {self.metric_result}"

    def __len__(self) -> int:
        result = self.metric_result
        if isinstance(result, list | dict):
            return len(result)
        if _is_number(result):
            return 1
        if result is None:
            return 0
        raise ConfigTypeError(
            f"{self.metric_name}: len() needs a list, dict, int or float result, got "
            f"{type(result).__name__}"
        )

    def _pair(self, other: Any) -> tuple[float, float]:
        mine = self.metric_result
        theirs = other.metric_result if isinstance(other, AbstractBaseMetric) else other
        if _is_number(mine) and _is_number(theirs):
            return mine, theirs
        raise ConfigError(
            f"{self.metric_name}: metrics compare only when both results are int or float; "
            f"got {type(mine).__name__} and {type(theirs).__name__}"
        )

    def __lt__(self, other: Any) -> bool:
        mine, theirs = self._pair(other)
        return mine < theirs

    def __le__(self, other: Any) -> bool:
        mine, theirs = self._pair(other)
        return mine <= theirs

    def __gt__(self, other: Any) -> bool:
        mine, theirs = self._pair(other)
        return mine > theirs

    def __ge__(self, other: Any) -> bool:
        mine, theirs = self._pair(other)
        return mine >= theirs

    def __contains__(self, item: object) -> bool:
        if item == self.metric_name:
            return True
        return isinstance(self.metric_result, dict) and item in self.metric_result

    def __getitem__(self, item: str) -> Any:
        if item == self.metric_name:
            return self.metric_result
        if isinstance(self.metric_result, dict) and item in self.metric_result:
            return self.metric_result[item]
        raise KeyError(
            f"{item!r} is neither the metric {self.metric_name!r} nor one of its results"
        )

    def concat_metric(self, other: AbstractBaseMetric | dict[str, Any]) -> dict[str, Any]:
        """This metric's dict merged with ``other`` (a metric or a ``{name: result}`` dict)."""
        if isinstance(other, AbstractBaseMetric):
            theirs = other.get_metric_dict()
        elif isinstance(other, dict):
            theirs = other
        else:
            raise ConfigTypeError(
                f"{self.metric_name}: can add only a metric or a dict, got {type(other).__name__}"
            )
        return {**self.get_metric_dict(), **theirs}

    def __add__(self, other: AbstractBaseMetric | dict[str, Any]) -> dict[str, Any]:
        return self.concat_metric(other)

    def __radd__(self, other: AbstractBaseMetric | dict[str, Any]) -> dict[str, Any]:
        return self.concat_metric(other)
