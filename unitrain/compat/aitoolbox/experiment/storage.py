"""The experiment folder, checkpoint files and optional fsspec upload of tracking callbacks.

Re-exported by :mod:`unitrain.compat.aitoolbox.experiment` (its older flat module path).

Layout (as aitoolbox): ``<local root>/<project>/<experiment>_<timestamp>/`` holding
``checkpoint_model/``, ``model/``, ``results/`` and ``hyperparams_list.txt``. Files are
written to a temporary name in the same folder and committed with ``os.replace``, so a
crash never leaves half a checkpoint. Checkpoints hold only tensors and plain data and load
with ``torch.load(weights_only=True)``. Uploading is opt-in: ``cloud_save_mode`` ``None`` or
``"local"`` (the default) keeps everything on disk.
"""

from __future__ import annotations

import importlib
import os
import shutil
import zipfile
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.compat.aitoolbox.abstract import AbstractExperimentCallback
    from unitrain.compat.aitoolbox.train_loop import TrainLoop

__all__ = [
    "atomic_save",
    "checkpoint_payload",
    "cloud_url",
    "experiment_dir",
    "plain",
    "save_hyperparams",
    "upload",
]

_SCHEMES = {
    "s3": "s3",
    "aws_s3": "s3",
    "aws": "s3",
    "gcs": "gs",
    "google_storage": "gs",
    "google storage": "gs",
}
LOCAL_MODES = (None, "local", "disk")


def experiment_dir(callback: AbstractExperimentCallback) -> str:
    """``<local root>/<project>/<experiment>_<timestamp>`` for ``callback`` (created)."""
    missing = [
        name
        for name in ("project_name", "experiment_name", "local_model_result_folder_path")
        if getattr(callback, name) is None
    ]
    if missing:
        raise ConfigError(
            f"callback {callback.callback_name!r} needs {', '.join(missing)} to know where to "
            "save; give them to the callback or use a tracking train loop "
            "(TrainLoopCheckpoint / TrainLoopEndSave / TrainLoopCheckpointEndSave)"
        )
    folder = os.path.join(
        str(callback.local_model_result_folder_path),
        str(callback.project_name),
        f"{callback.experiment_name}_{callback.train_loop_obj.experiment_timestamp}",
    )
    os.makedirs(folder, exist_ok=True)
    return folder


def cloud_url(callback: AbstractExperimentCallback, local_path: str) -> str | None:
    """Where ``local_path`` is uploaded, or ``None`` for local-only saving."""
    mode = callback.cloud_save_mode
    if mode in LOCAL_MODES:
        return None
    scheme = _SCHEMES.get(str(mode), str(mode))
    root = os.path.join(str(callback.local_model_result_folder_path), str(callback.project_name))
    relative = os.path.relpath(local_path, root).replace(os.sep, "/")
    parts = [callback.bucket_name or "", (callback.cloud_dir_prefix or "").strip("/"), relative]
    return f"{scheme}://" + "/".join(p for p in parts if p)


def upload(callback: AbstractExperimentCallback, local_path: str) -> str | None:
    """Copy ``local_path`` to the callback's object store through fsspec; the URL or ``None``."""
    url = cloud_url(callback, local_path)
    if url is None:
        return None
    try:
        fsspec = importlib.import_module("fsspec")
    except ImportError:
        raise ConfigError(
            f"callback {callback.callback_name!r}: cloud_save_mode={callback.cloud_save_mode!r} "
            "uploads through fsspec, which is not installed; pip install fsspec (plus s3fs or "
            "gcsfs for S3 / GCS), or set cloud_save_mode=None to save locally only"
        ) from None
    options = getattr(callback, "storage_options", None) or {}
    with open(local_path, "rb") as source, fsspec.open(url, "wb", **options) as target:
        shutil.copyfileobj(source, target)
    return url


def plain(value: Any) -> Any:
    """``value`` with everything but plain data turned into strings (weights_only-safe)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)


def atomic_save(payload: Any, path: str) -> str:
    """``torch.save`` to a temporary file in the same folder, flushed, then renamed."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.tmp")
    with open(temporary, "wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


def checkpoint_payload(loop: TrainLoop, hyperparams: Mapping[str, Any] | None) -> dict[str, Any]:
    """aitoolbox's checkpoint dict: model, optimizer(s), schedulers, position, scaler."""
    optimizer: Any = loop.optimizer
    scaler = loop.amp_scaler
    return {
        "model_state_dict": loop.model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "schedulers_state_dict": [s.state_dict() for s in loop.get_schedulers()],  # type: ignore[attr-defined]
        "epoch": loop.epoch,
        "iteration_idx": loop.total_iteration_idx,
        "hyperparams": plain(dict(hyperparams or {})),
        "amp": scaler.state_dict() if scaler is not None else None,
    }


def save_hyperparams(
    folder: str, hyperparams: Mapping[str, Any], source_dirs: Iterable[str] = ()
) -> list[str]:
    """Write ``hyperparams_list.txt``, copy the experiment script, zip ``source_dirs``."""
    written = [os.path.join(folder, "hyperparams_list.txt")]
    with open(written[0], "w") as handle:
        for key, value in hyperparams.items():
            handle.write(f"{key}:\t{value}\n")
    script = hyperparams.get("experiment_file_path")
    if isinstance(script, str) and os.path.isfile(script):
        target = os.path.join(folder, os.path.basename(script))
        shutil.copyfile(script, target)
        written.append(target)
    for source in source_dirs:
        if not os.path.isdir(source):
            raise ConfigError(f"source_dirs: {source!r} is not a directory")
        archive = os.path.join(folder, f"{os.path.basename(os.path.abspath(source))}.zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for root, _, files in os.walk(source):
                for name in files:
                    if name.endswith(".py"):
                        path = os.path.join(root, name)
                        bundle.write(path, os.path.relpath(path, os.path.dirname(source)))
        written.append(archive)
    return written
