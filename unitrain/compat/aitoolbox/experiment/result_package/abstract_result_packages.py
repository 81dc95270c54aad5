"""``aitoolbox.experiment.result_package.abstract_result_packages``.

A result package turns one split's ``y_true`` / ``y_predicted`` into ``results_dict``
(metric name → value) with its :meth:`~AbstractResultPackage.prepare_results_dict`.
Prepared packages combine as in aitoolbox: ``a + b`` (or ``a + {name: value}``) is a new
:class:`MultipleResultPackageWrapper` holding copies of both, its results keyed by package
name (a repeated name gets its position as suffix); ``a += b`` merges ``b``'s results into
``a`` and refuses a metric name ``a`` already has. Combining a package that has not been
prepared is an error. With ``strict_content_check`` a data problem (results or
hyperparameters missing) raises a :class:`~unitrain.errors.ConfigError` (a ``ValueError``);
otherwise it is printed, as aitoolbox did.

One addition: ``prepare_result_package`` returns the ``results_dict`` it computed
(aitoolbox returned ``None``).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from unitrain.compat.aitoolbox.experiment.training_history import TrainingHistory
from unitrain.compat.aitoolbox.utils.file_system import zip_folder
from unitrain.errors import ConfigError

__all__ = ["AbstractResultPackage", "MultipleResultPackageWrapper", "PreCalculatedResultPackage"]


def _as_array(values: Any) -> Any:
    """``values`` as a numpy array; tensors are detached and moved to the CPU first."""
    if hasattr(values, "detach"):
        values = values.detach().cpu()
        if str(values.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            values = values.float()
        return values.numpy()
    return np.array(values)


class AbstractResultPackage(ABC):
    """Base of every result package; subclasses implement :meth:`prepare_results_dict`.

    ``np_array``: ``True`` converts the inputs to numpy arrays, ``False`` keeps them as
    given, ``"auto"`` converts only when every element has the same length. Extra keyword
    arguments are kept as ``package_metadata``.
    """

    def __init__(
        self,
        pkg_name: str | None = None,
        strict_content_check: bool = False,
        np_array: bool | str = True,
        **kwargs: Any,
    ) -> None:
        self.pkg_name = pkg_name
        self.strict_content_check = strict_content_check
        self.np_array = np_array
        self.y_true: Any = None
        self.y_predicted: Any = None
        self.additional_results: Any = None
        self.additional_results_dump_paths: Any = None
        self.results_dict: dict[str, Any] | None = None
        self.requires_loss = False
        self.hyperparameters: dict[str, Any] | None = None
        self.package_metadata = kwargs

    @abstractmethod
    def prepare_results_dict(self) -> dict[str, Any]:
        """Metric name → value for the stored ``y_true`` / ``y_predicted``."""

    def prepare_result_package(
        self,
        y_true: Any,
        y_predicted: Any,
        hyperparameters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Store the inputs, compute ``results_dict`` and return it."""
        if self.np_array is True:
            self.y_true, self.y_predicted = _as_array(y_true), _as_array(y_predicted)
        elif self.np_array == "auto":
            self.y_true = self.auto_y_input_array_convert(y_true)
            self.y_predicted = self.auto_y_input_array_convert(y_predicted)
        else:
            self.y_true, self.y_predicted = y_true, y_predicted
        self.results_dict = None
        self.hyperparameters = hyperparameters
        self.additional_results = kwargs
        results = self.prepare_results_dict()
        self.results_dict = results
        return results

    @staticmethod
    def auto_y_input_array_convert(y_array: Sequence[Any]) -> Any:
        """A numpy array when every element has the first element's length, else as given."""
        first = len(y_array[0])
        if all(len(element) == first for element in y_array):
            return np.array(y_array)
        return y_array

    def get_results(self) -> dict[str, Any] | None:
        """The computed results (``None``, reported as a problem, before preparing)."""
        if self.results_dict is None:
            self.warn_about_result_data_problem(
                f"{self.pkg_name}: results missing; call prepare_result_package(y_true, "
                "y_predicted) first"
            )
        return self.results_dict

    def get_hyperparameters(self) -> dict[str, Any] | None:
        """The hyperparameters given to the last :meth:`prepare_result_package` (checked)."""
        self.qa_check_hyperparameters_dict()
        return self.hyperparameters

    def get_additional_results_dump_paths(self) -> list[list[str]] | None:
        """``[[file name, local path], ...]`` of extra files the package wrote (checked)."""
        paths = self.list_additional_results_dump_paths()
        self.additional_results_dump_paths = paths
        self.qa_check_additional_results_dump_paths()
        return paths

    def list_additional_results_dump_paths(self) -> list[list[str]] | None:
        """Override to name extra files to save with the experiment (default: none)."""
        return None

    def set_experiment_dir_path_for_additional_results(
        self,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str,
        local_model_result_folder_path: str,
    ) -> None:
        """Override to learn the experiment folder before extra files are written."""
        return None

    def qa_check_hyperparameters_dict(self) -> None:
        """Report missing hyperparameters, ``bash_script_path`` or ``experiment_file_path``."""
        if self.hyperparameters is None:
            self.warn_about_result_data_problem(f"{self.pkg_name}: hyperparameters missing")
            return
        for key in ("bash_script_path", "experiment_file_path"):
            if self.hyperparameters.get(key) is None:
                self.warn_about_result_data_problem(
                    f"{self.pkg_name}: {key} missing from the hyperparameters dict; add it "
                    "to the experiment's configuration to have it saved with the results"
                )

    def qa_check_additional_results_dump_paths(self) -> None:
        """Check the extra-file list has the form ``[[str, str], ...]``."""
        paths = self.additional_results_dump_paths
        if paths is None:
            return
        if not isinstance(paths, list):
            raise ConfigError(
                f"{self.pkg_name}: additional results dump paths must be a list of "
                f"[file name, local path] lists, got {paths!r}"
            )
        for element in paths:
            if not (
                isinstance(element, list)
                and len(element) == 2
                and all(isinstance(part, str) for part in element)
            ):
                raise ConfigError(
                    f"{self.pkg_name}: each additional results dump path must be a list "
                    f"[file name, local path] of two strings, got {element!r}"
                )

    def warn_about_result_data_problem(self, msg: str) -> None:
        """Raise ``msg`` as a ConfigError when strict, else print it."""
        if self.strict_content_check:
            raise ConfigError(msg)
        print(msg)

    @staticmethod
    def zip_additional_results_dump(source_dir_path: str, zip_path: str) -> str:
        """Zip a folder of extra results; the path of the archive."""
        return zip_folder(source_dir_path, zip_path)

    def warn_if_results_dict_not_defined(self) -> None:
        """Refuse to use a package whose results have not been computed."""
        if self.results_dict is None:
            raise ConfigError(
                f"result package {self.pkg_name!r} has no results yet; call "
                "prepare_result_package(y_true, y_predicted) before combining, printing or "
                "indexing it"
            )

    def _results(self) -> dict[str, Any]:
        self.warn_if_results_dict_not_defined()
        assert self.results_dict is not None
        return self.results_dict

    def __str__(self) -> str:
        return "\n".join(f"{name}: {value}" for name, value in self._results().items())

    def __len__(self) -> int:
        return len(self._results())

    def __contains__(self, item: object) -> bool:
        return item in self._results()

    def __getitem__(self, item: str) -> Any:
        results = self._results()
        if item not in results:
            raise KeyError(f"{item!r} is not in the results; they hold {list(results)}")
        return results[item]

    @staticmethod
    def _create_other_object_pkg(other: Any) -> AbstractResultPackage:
        """A copy of ``other`` as a package (a dict becomes a PreCalculatedResultPackage)."""
        if isinstance(other, AbstractResultPackage):
            other.warn_if_results_dict_not_defined()
            return copy.deepcopy(other)
        if isinstance(other, dict):
            return PreCalculatedResultPackage(copy.deepcopy(other))
        raise ConfigError(
            f"result packages add only to result packages and dicts, got {type(other).__name__}"
        )

    def add_merge_multi_pkg_wrap(self, other_object: Any) -> MultipleResultPackageWrapper:
        """``self + other``: a wrapper holding copies of both packages."""
        self.warn_if_results_dict_not_defined()
        other = self._create_other_object_pkg(other_object)
        mine = copy.deepcopy(self)
        combined = MultipleResultPackageWrapper()
        combined.prepare_result_package([mine, other], mine.hyperparameters)
        return combined

    def __add__(self, other: Any) -> MultipleResultPackageWrapper:
        return self.add_merge_multi_pkg_wrap(other)

    def __radd__(self, other: Any) -> MultipleResultPackageWrapper:
        return self.add_merge_multi_pkg_wrap(other)

    def add_merge_dicts(self, other: Any) -> AbstractResultPackage:
        """``self += other``: ``other``'s results join this package's (no name clash)."""
        mine = self._results()
        if isinstance(other, AbstractResultPackage):
            theirs = other._results()
        elif isinstance(other, dict):
            theirs = other
        else:
            raise ConfigError(
                f"result packages add only result packages and dicts, got {type(other).__name__}"
            )
        clash = sorted(set(mine) & set(theirs))
        if clash:
            raise ConfigError(
                f"result package {self.pkg_name!r} already has the metrics {clash}; rename "
                "them or combine with + (which keeps each package's results apart)"
            )
        self.results_dict = {**mine, **theirs}
        return self

    def __iadd__(self, other: Any) -> AbstractResultPackage:
        return self.add_merge_dicts(other)


class PreCalculatedResultPackage(AbstractResultPackage):
    """A package around results computed elsewhere (what ``package + dict`` wraps)."""

    def __init__(
        self, results_dict: dict[str, Any], strict_content_check: bool = False, **kwargs: Any
    ) -> None:
        super().__init__("PreCalculatedResult", strict_content_check, **kwargs)
        self.results_dict = results_dict
        self.training_history = TrainingHistory()
        self.hyperparameters = {}

    def prepare_results_dict(self) -> dict[str, Any]:
        return self.results_dict if self.results_dict is not None else {}


class MultipleResultPackageWrapper(AbstractResultPackage):
    """Prepared packages side by side: ``results_dict`` maps each package's name to its
    results; ``y_true`` / ``y_predicted`` / ``additional_results`` are keyed the same way."""

    def __init__(self, strict_content_check: bool = False, **kwargs: Any) -> None:
        super().__init__("MultipleResultWrapper", strict_content_check, **kwargs)
        self.result_packages: list[AbstractResultPackage] | None = None

    def prepare_result_package(  # type: ignore[override]
        self,
        result_packages: list[AbstractResultPackage],
        hyperparameters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Wrap the prepared ``result_packages``; returns the combined results."""
        self.results_dict = None
        self.result_packages = list(result_packages)
        self.hyperparameters = hyperparameters
        self.additional_results = kwargs
        results = self.prepare_results_dict()
        self.results_dict = results
        return results

    def _packages(self) -> list[AbstractResultPackage]:
        if self.result_packages is None:
            raise ConfigError(
                "MultipleResultPackageWrapper holds no packages yet; call "
                "prepare_result_package([package, ...]) first"
            )
        return self.result_packages

    def prepare_results_dict(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        self.y_true, self.y_predicted = {}, {}
        self.additional_results = (
            {self.pkg_name: self.additional_results} if self.additional_results else {}
        )
        for index, package in enumerate(self._packages()):
            if package.pkg_name is None:
                name = f"ResultPackage{index}"
            else:
                name = package.pkg_name + (str(index) if package.pkg_name in results else "")
            results[name] = package.get_results()
            self.y_true[name] = package.y_true
            self.y_predicted[name] = package.y_predicted
            self.additional_results[name] = package.additional_results
        return results

    def get_additional_results_dump_paths(self) -> list[list[str]] | None:
        """This wrapper's own extra files followed by every package's."""
        own = self.list_additional_results_dump_paths()
        nested: list[list[str]] = []
        for package in self._packages():
            nested += package.get_additional_results_dump_paths() or []
        paths = (own or []) + nested if (own or nested) else own
        self.additional_results_dump_paths = paths
        self.qa_check_additional_results_dump_paths()
        return paths

    def __str__(self) -> str:
        return "\n".join(f"--> {p.pkg_name}:\n{p}" for p in self._packages())

    def __len__(self) -> int:
        """The number of wrapped packages."""
        return len(self._packages())

    def _others(self, other: Any) -> list[AbstractResultPackage]:
        package = self._create_other_object_pkg(other)
        if isinstance(package, MultipleResultPackageWrapper):
            return package._packages()
        return [package]

    def add_merge_multi_pkg_wrap(self, other_object: Any) -> MultipleResultPackageWrapper:
        self.warn_if_results_dict_not_defined()
        others = self._others(other_object)
        combined = copy.deepcopy(self)
        combined.prepare_result_package(
            combined._packages() + others, combined.hyperparameters, **combined.package_metadata
        )
        return combined

    def __iadd__(self, other: Any) -> MultipleResultPackageWrapper:
        self.warn_if_results_dict_not_defined()
        others = self._others(other)
        self.prepare_result_package(
            self._packages() + others, self.hyperparameters, **self.package_metadata
        )
        return self
