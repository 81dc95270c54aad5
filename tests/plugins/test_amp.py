import pytest
import torch
from torch import nn

import unitrain as ut
from tests.plugins._tiny import tiny_batches, tiny_task
from unitrain.plugins import GradientClipping, MixedPrecision


class Outputs:
    def __init__(self) -> None:
        self.train: list[torch.dtype] = []
        self.eval: list[torch.dtype] = []

    def on_train_step_end(self, result: ut.StepResult) -> None:
        self.train.append(result.outputs.dtype)

    def on_eval_step_end(self, result: ut.StepResult) -> None:
        self.eval.append(result.outputs.dtype)


def test_bf16_autocast_on_cpu_covers_train_eval_and_predict():
    seen = Outputs()
    trainer = ut.Trainer(tiny_task(), max_epochs=2, device="cpu", plugins=[MixedPrecision(), seen])
    trainer.fit(tiny_batches(), eval_data=tiny_batches())
    assert set(seen.train) == {torch.bfloat16}
    assert set(seen.eval) == {torch.bfloat16}
    predictions = trainer.predict(tiny_batches())
    assert predictions[0].dtype == torch.bfloat16
    # parameters stay float32: autocast changes compute, not storage
    assert all(p.dtype == torch.float32 for p in trainer.task.model.parameters())


def test_without_the_plugin_outputs_are_float32():
    seen = Outputs()
    ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[seen]).fit(tiny_batches())
    assert set(seen.train) == {torch.float32}


def test_bf16_training_still_learns():
    trainer = ut.Trainer(tiny_task(lr=0.5), max_epochs=15, device="cpu", plugins=[MixedPrecision()])
    trainer.fit(tiny_batches(), eval_data=tiny_batches())
    assert trainer.state.eval_metrics["val"]["accuracy"] >= 0.9


def test_power_of_two_loss_scaling_is_exact():
    """A grad scaler multiplies and divides by a power of two: the weights must not change."""

    def run(scaler: bool) -> list[torch.Tensor]:
        task = tiny_task(seed=3)
        plugins = [MixedPrecision("bf16", scaler=scaler), GradientClipping(max_norm=1e9)]
        ut.Trainer(task, max_epochs=2, device="cpu", plugins=plugins).fit(tiny_batches())
        return [p.detach().clone() for p in task.model.parameters()]

    plain, scaled = run(False), run(True)
    assert all(torch.equal(a, b) for a, b in zip(plain, scaled, strict=True))


def test_scaler_is_exposed_on_the_state_and_checkpointed():
    amp = MixedPrecision("bf16", scaler=True)
    trainer = ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[amp])
    trainer.fit(tiny_batches())
    assert trainer.state.grad_scaler is amp.scaler
    checkpoint = trainer.state_dict()
    assert checkpoint["plugins"]["mixed_precision"]["scale"] == amp.scaler.get_scale()


def test_fp16_on_cpu_is_refused_before_any_step():
    task = tiny_task()
    before = [p.detach().clone() for p in task.model.parameters()]
    trainer = ut.Trainer(task, max_epochs=1, device="cpu", plugins=[MixedPrecision("fp16")])
    with pytest.raises(ut.ConfigError, match="needs a CUDA device"):
        trainer.fit(tiny_batches())
    assert all(torch.equal(a, b) for a, b in zip(before, task.model.parameters(), strict=True))


def test_unknown_dtype_is_refused_at_construction():
    with pytest.raises(ut.ConfigError, match="expected 'bf16' or 'fp16'"):
        MixedPrecision("fp8")  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_with_scaler_on_cuda():
    task = ut.Task(
        nn.Linear(8, 2),
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
    )
    amp = MixedPrecision("fp16")
    ut.Trainer(task, max_epochs=2, device="cuda", plugins=[amp]).fit(tiny_batches())
    assert amp.scaler is not None and amp.scaler.get_scale() > 0
