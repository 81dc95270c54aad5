"""Migration by one substitution: aitoolbox's experiment and utils module paths exist
under ``unitrain.compat.aitoolbox`` with the names aitoolbox users import from them."""

from __future__ import annotations

import importlib

import pytest

PREFIX = "unitrain.compat.aitoolbox."
MODULES = {
    "cloud": ["s3_available_options", "gcs_available_options"],
    "cloud.AWS.data_access": ["BaseDataSaver"],
    "cloud.AWS.model_save": [
        "AbstractModelSaver",
        "BaseModelSaver",
        "PyTorchS3ModelSaver",
        "KerasS3ModelSaver",
    ],
    "cloud.AWS.results_save": ["AbstractResultsSaver", "BaseResultsSaver", "S3ResultsSaver"],
    "cloud.AWS.model_load": ["BaseModelLoader", "PyTorchS3ModelLoader"],
    "cloud.GoogleCloud.data_access": ["BaseGoogleStorageDataSaver", "BaseGoogleStorageDataLoader"],
    "cloud.GoogleCloud.model_save": [
        "BaseModelGoogleStorageSaver",
        "PyTorchGoogleStorageModelSaver",
        "KerasGoogleStorageModelSaver",
    ],
    "cloud.GoogleCloud.results_save": [
        "BaseResultsGoogleStorageSaver",
        "GoogleStorageResultsSaver",
    ],
    "cloud.GoogleCloud.model_load": [
        "BaseModelGoogleStorageLoader",
        "PyTorchGoogleStorageModelLoader",
    ],
    "experiment": [
        "ClassificationResultPackage",
        "BinaryClassificationResultPackage",
        "RegressionResultPackage",
    ],
    "experiment.training_history": ["TrainingHistory"],
    "experiment.experiment_saver": [
        "AbstractExperimentSaver",
        "BaseFullExperimentSaver",
        "BaseFullExperimentS3Saver",
        "FullPyTorchExperimentS3Saver",
        "FullKerasExperimentS3Saver",
        "BaseFullExperimentGoogleStorageSaver",
        "FullPyTorchExperimentGoogleStorageSaver",
        "FullKerasExperimentGoogleStorageSaver",
    ],
    "experiment.local_experiment_saver": [
        "BaseFullExperimentLocalSaver",
        "FullPyTorchExperimentLocalSaver",
        "FullKerasExperimentLocalSaver",
    ],
    "experiment.local_save.folder_create": ["ExperimentFolder"],
    "experiment.local_save.local_model_save": [
        "AbstractLocalModelSaver",
        "BaseLocalModelSaver",
        "PyTorchLocalModelSaver",
        "KerasLocalModelSaver",
        "LocalSubOptimalModelRemover",
    ],
    "experiment.local_save.local_results_save": [
        "AbstractLocalResultsSaver",
        "BaseLocalResultsSaver",
        "LocalResultsSaver",
    ],
    "experiment.local_load.local_model_load": [
        "AbstractLocalModelLoader",
        "PyTorchLocalModelLoader",
    ],
    "experiment.result_package.abstract_result_packages": [
        "AbstractResultPackage",
        "PreCalculatedResultPackage",
        "MultipleResultPackageWrapper",
    ],
    "experiment.result_package.basic_packages": [
        "GeneralResultPackage",
        "BinaryClassificationResultPackage",
        "ClassificationResultPackage",
        "RegressionResultPackage",
    ],
    "experiment.result_package.torch_metrics_packages": ["TorchMetricsPackage"],
    "experiment.result_reporting.hyperparam_reporter": ["HyperParamSourceReporter"],
    "experiment.result_reporting.report_generator": [
        "TrainingHistoryPlotter",
        "TrainingHistoryWriter",
        "GradientPlotter",
    ],
    "experiment.core_metrics.abstract_metric": ["AbstractBaseMetric"],
    "experiment.core_metrics.classification": [
        "AccuracyMetric",
        "ROCAUCMetric",
        "PrecisionRecallCurveAUCMetric",
        "F1ScoreMetric",
        "PrecisionMetric",
        "RecallMetric",
    ],
    "experiment.core_metrics.regression": ["MeanSquaredErrorMetric", "MeanAbsoluteErrorMetric"],
    "utils.util": [
        "function_exists",
        "copy_function",
        "is_empty_function",
        "flatten_list_of_lists",
    ],
    "utils.dict_util": [
        "combine_prediction_metadata_batches",
        "flatten_dict",
        "combine_dict_elements",
        "flatten_combine_dict",
    ],
    "utils.file_system": ["create_folder_hierarchy", "zip_folder", "unzip_file"],
}


@pytest.mark.parametrize("path", sorted(MODULES))
def test_module_path_offers_aitoolboxs_names(path: str) -> None:
    module = importlib.import_module(PREFIX + path)
    missing = [name for name in MODULES[path] if not hasattr(module, name)]
    assert not missing, f"{PREFIX + path} lacks {missing}"
    exported = getattr(module, "__all__", None)
    if exported is not None:  # star imports give what aitoolbox's star import gave
        assert not set(MODULES[path]) - set(exported)


def test_star_import_hands_out_the_modules_aitoolbox_leaked() -> None:
    scope: dict[str, object] = {}
    exec(f"from {PREFIX}experiment.local_save.local_model_save import *", scope)
    exec(f"from {PREFIX}experiment.local_experiment_saver import *", scope)
    assert {"time", "datetime", "os", "PyTorchLocalModelSaver"} <= set(scope)


def test_star_import_of_the_experiment_package_gives_the_basic_packages_only() -> None:
    scope: dict[str, object] = {}
    exec(f"from {PREFIX}experiment import *", scope)
    assert sorted(k for k in scope if not k.startswith("__")) == [
        "BinaryClassificationResultPackage",
        "ClassificationResultPackage",
        "RegressionResultPackage",
    ]
    # The tracking callbacks' folder helpers stay importable by name.
    from unitrain.compat.aitoolbox.experiment import atomic_save, experiment_dir

    assert callable(atomic_save) and callable(experiment_dir)
