"""ModelLoadContinueTraining: a resumed run equals an uninterrupted one, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.aitoolbox._tiny import TinyNet, make_loop, same
from unitrain.compat.aitoolbox import ModelCheckpoint, ModelLoadContinueTraining, StepLRScheduler
from unitrain.errors import ConfigError

EXPERIMENT = {"project_name": "proj", "experiment_name": "exp"}


def test_continue_training_resumes_exactly(tmp_path: Path) -> None:
    straight = make_loop(momentum=0.9)
    straight.fit(num_epochs=4, callbacks=[StepLRScheduler(1, 0.5)])

    first = make_loop(momentum=0.9)
    saver = ModelCheckpoint(**EXPERIMENT, local_model_result_folder_path=str(tmp_path))
    first.fit(num_epochs=2, callbacks=[StepLRScheduler(1, 0.5), saver])

    resumed = make_loop(model=TinyNet(seed=7), momentum=0.9)  # other weights: all restored
    loader = ModelLoadContinueTraining(
        first.experiment_timestamp,
        epoch_num=1,
        **EXPERIMENT,
        local_model_result_folder_path=str(tmp_path),
    )
    resumed.fit(num_epochs=4, callbacks=[loader, StepLRScheduler(1, 0.5)])
    assert loader.execution_order == -10 and loader.checkpoint["epoch"] == 1
    assert same(resumed.model, straight.model)
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]
    # as in aitoolbox only the epoch is restored: the resumed fit counts its own batches
    assert resumed.state.micro_step == 8 and straight.state.micro_step == 16
    assert len(resumed.train_history["loss"]) == 2  # only the epochs it ran


def test_continue_training_from_a_chosen_epoch_and_errors(tmp_path: Path) -> None:
    first = make_loop()
    saver = ModelCheckpoint(**EXPERIMENT, local_model_result_folder_path=str(tmp_path))
    first.fit(num_epochs=2, callbacks=[saver])
    options = {**EXPERIMENT, "local_model_result_folder_path": str(tmp_path)}
    resumed = make_loop()
    loader = ModelLoadContinueTraining(first.experiment_timestamp, epoch_num=0, **options)
    resumed.fit(num_epochs=2, callbacks=[loader])
    assert resumed.epoch == 1 and resumed.state.micro_step == 4
    with pytest.raises(ConfigError, match=r"no model file model_exp_.*_E5\.pth"):
        make_loop().fit(
            num_epochs=1,
            callbacks=[
                ModelLoadContinueTraining(first.experiment_timestamp, epoch_num=5, **options)
            ],
        )
    with pytest.raises(ConfigError, match=r"no model file model_exp_[\d_-]+\.pth"):
        # no epoch_num: the final model, which ModelCheckpoint does not write
        make_loop().fit(
            num_epochs=3,
            callbacks=[ModelLoadContinueTraining(first.experiment_timestamp, **options)],
        )
    with pytest.raises(ConfigError, match="scheduler"):
        make_loop().fit(
            num_epochs=3,
            callbacks=[
                ModelLoadContinueTraining(first.experiment_timestamp, epoch_num=1, **options),
                StepLRScheduler(1),
            ],
        )
