"""Loading saved models back: weights only, clear refusals, and a restored training state."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from tests.compat.aitoolbox._tiny import TinyNet, same
from unitrain.compat.aitoolbox.callbacks.schedulers import StepLRScheduler
from unitrain.compat.aitoolbox.experiment.local_load.local_model_load import (
    PyTorchLocalModelLoader,
)
from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import (
    PyTorchLocalModelSaver,
)
from unitrain.errors import CheckpointError, ConfigError, StateError


class Executes:
    """An object that pickle would rebuild by calling code: must never be unpickled."""

    def __reduce__(self) -> Any:
        return (print, ("this ran while loading",))


def save(root: Path, model: nn.Module, epoch: int | None = 2, **extra: Any) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3)).sum().backward()
    optimizer.step()
    payload = {
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "epoch": 2,
        "hyperparams": {},
        **extra,
    }
    PyTorchLocalModelSaver(str(root), checkpoint_model=True).save_model(
        payload, "p", "e", "ts", epoch
    )


def test_round_trip_restores_model_and_optimizer(tmp_path: Path) -> None:
    trained = TinyNet(seed=1)
    save(tmp_path, trained)
    loader = PyTorchLocalModelLoader(str(tmp_path))
    loaded = loader.load_model("p", "e", "ts", "checkpoint_model", epoch_num=2)
    assert loaded["schedulers_state_dict"] == []  # filled in for older files
    fresh = loader.init_model(TinyNet(seed=2))
    assert same(fresh, trained)
    optimizer = loader.init_optimizer(torch.optim.SGD(fresh.parameters(), lr=0.5, momentum=0.9))
    assert optimizer.state_dict()["param_groups"][0]["lr"] == 0.1
    assert len(optimizer.state_dict()["state"]) == len(list(fresh.parameters()))


def test_data_parallel_prefixes_are_stripped(tmp_path: Path) -> None:
    wrapped = nn.DataParallel(TinyNet(seed=3))
    save(tmp_path, wrapped, epoch=None)
    loader = PyTorchLocalModelLoader(str(tmp_path))
    loader.load_model("p", "e", "ts", "checkpoint_model")
    assert same(loader.init_model(TinyNet(seed=4), used_data_parallel=True), wrapped.module)


def test_files_that_could_run_code_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save(tmp_path, TinyNet(), hyperparams_obj=Executes())
    loader = PyTorchLocalModelLoader(str(tmp_path))
    with pytest.raises(CheckpointError, match="does not unpickle"):
        loader.load_model("p", "e", "ts", "checkpoint_model", 2)
    assert "this ran" not in capsys.readouterr().out and loader.model_representation is None
    raw = tmp_path / "raw.p"
    raw.write_bytes(pickle.dumps({"a": Executes()}))
    with pytest.raises(CheckpointError, match="never bare pickles"):
        loader.load_model_from_path(str(raw))


def test_missing_files_and_use_before_loading(tmp_path: Path) -> None:
    loader = PyTorchLocalModelLoader(str(tmp_path))
    with pytest.raises(CheckpointError, match=r"model_e_ts_E9\.pth"):
        loader.load_model("p", "e", "ts", "checkpoint_model", 9)
    with pytest.raises(StateError, match="load_model"):
        loader.init_model(TinyNet())
    not_torch = tmp_path / "x.pth"
    not_torch.write_text("hello")
    with pytest.raises(CheckpointError, match=r"x\.pth"):
        loader.load_model_from_path(str(not_torch))


def test_scheduler_states_are_matched_to_the_given_schedulers(tmp_path: Path) -> None:
    model = TinyNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    torch_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimizer.step()
    torch_scheduler.step()
    save(tmp_path, model, schedulers_state_dict=[torch_scheduler.state_dict()])
    loader = PyTorchLocalModelLoader(str(tmp_path))
    loader.load_model("p", "e", "ts", "checkpoint_model", 2)
    with pytest.raises(ConfigError, match="no schedulers were given"):
        loader.init_scheduler([])
    assert loader.init_scheduler([], ignore_saved=True) == []
    with pytest.raises(ConfigError, match="2 schedulers were given"):
        loader.init_scheduler([StepLRScheduler(step_size=1), StepLRScheduler(step_size=1)])
    with pytest.raises(ConfigError, match="not an AbstractScheduler"):
        loader.init_scheduler([torch_scheduler])
    loader.model_representation = {**loader.check_if_model_loaded(), "schedulers_state_dict": []}
    with pytest.raises(ConfigError, match="ignore_missing_saved"):
        loader.init_scheduler([StepLRScheduler(step_size=1)])
