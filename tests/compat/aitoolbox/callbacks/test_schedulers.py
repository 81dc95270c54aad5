"""Scheduler callbacks: the learning rates they set, when they step, their saved state."""

from __future__ import annotations

import math

import pytest
import torch

from tests.compat.aitoolbox._tiny import make_loop
from unitrain.compat.aitoolbox import (
    ConstantWithWarmupScheduler,
    CosineWithWarmupScheduler,
    FunctionOnTrainLoop,
    GeneralLRSchedulerCallback,
    HardRestartsCosineWithWarmupScheduler,
    LambdaLRScheduler,
    LinearWithWarmupScheduler,
    MultiStepLRScheduler,
    ReduceLROnPlateauMetricScheduler,
    ReduceLROnPlateauScheduler,
    StepLRScheduler,
)
from unitrain.errors import ConfigError


def lr_log() -> tuple[list[float], FunctionOnTrainLoop]:
    """The LR seen at each batch begin."""
    seen: list[float] = []
    return seen, FunctionOnTrainLoop(
        lambda tl: seen.append(tl.optimizer.param_groups[0]["lr"]), batch_begin=True
    )


def lrs_per_epoch(seen: list[float]) -> list[float]:
    return seen[::4]


def test_step_and_multistep_schedulers_step_each_epoch() -> None:
    seen, log = lr_log()
    make_loop(lr=1.0, val=None).fit(num_epochs=4, callbacks=[StepLRScheduler(2, 0.5), log])
    assert lrs_per_epoch(seen) == [1.0, 1.0, 0.5, 0.5]
    seen, log = lr_log()
    multi = MultiStepLRScheduler([1, 3], gamma=0.1)
    make_loop(lr=1.0, val=None).fit(num_epochs=4, callbacks=[multi, log])
    assert lrs_per_epoch(seen) == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_general_and_lambda_schedulers() -> None:
    seen, log = lr_log()
    general = GeneralLRSchedulerCallback(torch.optim.lr_scheduler.ExponentialLR, gamma=0.5)
    make_loop(lr=1.0, val=None).fit(num_epochs=3, callbacks=[general, log])
    assert lrs_per_epoch(seen) == [1.0, 0.5, 0.25]
    seen, log = lr_log()
    per_batch = LambdaLRScheduler(lambda step: 1.0 / (step + 1), False, True)
    make_loop(lr=1.0, val=None).fit(num_epochs=1, callbacks=[per_batch, log], grad_accumulation=2)
    assert seen == pytest.approx([1.0, 1.0, 0.5, 0.5])  # steps only on update iterations
    with pytest.raises(ConfigError, match="execute_epoch_end or execute_batch_end"):
        LambdaLRScheduler(lambda s: 1.0, False, False)


def _warmup_lrs(scheduler: object) -> list[float]:
    seen, log = lr_log()
    make_loop(lr=1.0, val=None).fit(num_epochs=2, callbacks=[scheduler, log])
    return seen


def test_warmup_schedules_follow_the_hugging_face_formulas() -> None:
    assert _warmup_lrs(ConstantWithWarmupScheduler(2)) == pytest.approx([0, 0.5] + [1.0] * 6)
    linear = _warmup_lrs(LinearWithWarmupScheduler(2))  # 8 training steps from the loop
    assert linear == pytest.approx([0, 0.5, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    cosine = _warmup_lrs(CosineWithWarmupScheduler(2, 8))
    expected = [0, 0.5] + [0.5 * (1 + math.cos(math.pi * (s - 2) / 6)) for s in range(2, 8)]
    assert cosine == pytest.approx(expected)
    restarts = _warmup_lrs(HardRestartsCosineWithWarmupScheduler(0, 8, num_cycles=2))
    assert restarts[0] == pytest.approx(1.0) and restarts[4] == pytest.approx(1.0)
    assert restarts[2] == pytest.approx(0.5)


def test_plateau_schedulers() -> None:
    seen, log = lr_log()
    plateau = ReduceLROnPlateauScheduler(factor=0.5, patience=0, eps=0.0)
    loop = make_loop(lr=1e-9)  # val loss barely moves: plateau after the first epoch
    loop.fit(num_epochs=3, callbacks=[plateau, log])
    assert lrs_per_epoch(seen)[0] == 1e-9 and lrs_per_epoch(seen)[2] < 1e-9
    assert plateau.scheduler.best == pytest.approx(min(loop.train_history["val_loss"]))
    metric = ReduceLROnPlateauMetricScheduler("val_loss", factor=0.1, patience=0, eps=0.0)
    loop = make_loop(lr=1e-9)
    loop.fit(num_epochs=3, callbacks=[metric])
    assert loop.optimizer.param_groups[0]["lr"] < 1e-9
    with pytest.raises(ConfigError, match="no value in train_history"):
        make_loop(val=None).fit(
            num_epochs=1, callbacks=[ReduceLROnPlateauMetricScheduler("val_acc")]
        )


def test_scheduler_state_is_in_engine_checkpoints() -> None:
    scheduler = StepLRScheduler(1, 0.5)
    loop = make_loop(lr=1.0, val=None)
    loop.fit(num_epochs=2, callbacks=[scheduler])
    checkpoint = loop.trainer.state_dict()  # type: ignore[union-attr]
    saved = checkpoint["plugins"][scheduler.callback_name]
    assert saved["schedulers"][0]["last_epoch"] == 2
    fresh = StepLRScheduler(1, 0.5)
    other = make_loop(lr=1.0, val=None)
    other.fit(num_epochs=1, callbacks=[fresh])
    other.trainer.load_state_dict(checkpoint)  # type: ignore[union-attr]
    assert fresh.scheduler.last_epoch == 2
    assert loop.get_schedulers() == [scheduler]


def test_optimizer_idx_is_checked() -> None:
    with pytest.raises(ConfigError, match="optimizer_idx=3"):
        make_loop(val=None).fit(num_epochs=1, callbacks=[StepLRScheduler(1, optimizer_idx=3)])
