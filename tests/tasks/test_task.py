"""Task stages: override any stage or sub-step at any depth with super(); events still fire;
the IMiniBatch path with losses, metrics, dataset metrics and a regularizer; dict batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import torch
from torch import nn

import unitrain as ut
from tests.conftest import FEATURES, Recorder, make_batches, make_model, make_task

OPTIM = ("after_backward", "before_optimizer_step", "after_optimizer_step")


def sgd(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.1)


class Seen:
    """Keeps the result of every training step."""

    def __init__(self) -> None:
        self.results: list[ut.StepResult] = []

    def on_train_step_end(self, result: ut.StepResult) -> None:
        self.results.append(result)


# ---------------------------------------------------------------- overriding at any depth


class Tagged(ut.Task):
    def run_forward(self, state: ut.State, batch: Any) -> ut.StepResult | None:
        result = super().run_forward(state, batch)
        assert result is not None
        result.metrics["depth1"] = torch.tensor(1.0)
        return result


class Doubled(Tagged):
    def run_forward(self, state: ut.State, batch: Any) -> ut.StepResult | None:
        result = super().run_forward(state, batch)
        assert result is not None and result.loss is not None
        result.metrics["depth2"] = result.loss.detach()
        result.loss = result.loss * 2
        return result


def test_override_a_stage_two_levels_deep() -> None:
    seen, recorder, plain = Seen(), Recorder(), Recorder()
    task = Doubled(make_model(), loss=nn.CrossEntropyLoss(), optimizer=sgd)
    ut.Trainer(task, plugins=[seen, recorder], max_epochs=2, device="cpu").fit(make_batches(2))
    ut.Trainer(make_task(), plugins=[plain], max_epochs=2, device="cpu").fit(make_batches(2))
    assert recorder.events == plain.events  # every event still fires around the override
    for result in seen.results:
        assert result.loss is not None and set(result.metrics) == {"depth1", "depth2"}
        assert torch.equal(result.loss, result.metrics["depth2"] * 2)


def test_doubling_the_loss_is_the_same_as_doubling_the_learning_rate() -> None:
    doubled = Doubled(make_model(), loss=nn.CrossEntropyLoss(), optimizer=sgd)
    plain = make_task(lr=0.2)
    for task in (doubled, plain):
        ut.Trainer(task, max_steps=3, device="cpu").fit(make_batches(2))
    for p, q in zip(doubled.model.parameters(), plain.model.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_override_backward_and_optimizer_step() -> None:
    calls: list[str] = []

    class Counting(ut.Task):
        def run_backward(self, state: ut.State, result: ut.StepResult) -> bool | None:
            calls.append("backward")
            return super().run_backward(state, result)

        def run_optimizer_step(
            self, state: ut.State, optimizer: torch.optim.Optimizer, optimizer_idx: int
        ) -> bool | None:
            calls.append(f"step{optimizer_idx}")
            return super().run_optimizer_step(state, optimizer, optimizer_idx)

    task = Counting(make_model(), loss=nn.CrossEntropyLoss(), optimizer=sgd)
    state = ut.Trainer(task, max_epochs=1, accumulation=2, device="cpu").fit(make_batches(3))
    assert calls == ["backward", "backward", "step0", "backward", "step0"]
    assert state.global_step == 2


class Substeps(ut.Task):
    """Overrides every sub-step, each calling super()."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def split_batch(self, batch: Any) -> tuple[Any, Any]:
        self.calls.append("split_batch")
        return super().split_batch((batch["pixels"], batch["class"]))

    def forward(self, inputs: Any) -> Any:
        self.calls.append("forward")
        return super().forward(inputs)

    def compute_losses(self, batch: Any, outputs: Any, targets: Any) -> dict[str, Any]:
        self.calls.append("compute_losses")
        losses = super().compute_losses(batch, outputs, targets)
        losses["l2"] = (0.0, outputs.pow(2).mean())  # reported, weighted out of the total
        return losses

    def compute_metrics(self, batch: Any, outputs: Any, targets: Any) -> dict[str, torch.Tensor]:
        self.calls.append("compute_metrics")
        metrics = super().compute_metrics(batch, outputs, targets)
        metrics["ones"] = torch.tensor(1.0)
        return metrics

    def compute_step(self, batch: Any) -> ut.StepResult:
        self.calls.append("compute_step")
        return super().compute_step(batch)

    def predict_batch(self, batch: Any) -> Any:
        self.calls.append("predict_batch")
        return super().predict_batch(batch).argmax(-1)


def dict_batches() -> list[dict[str, torch.Tensor]]:
    return [{"pixels": x, "class": y} for x, y in make_batches(2)]


def test_override_every_sub_step_with_custom_dict_batches() -> None:
    seen = Seen()
    task = Substeps(
        make_model(), loss=nn.CrossEntropyLoss(), metrics={"accuracy": ut.accuracy}, optimizer=sgd
    )
    trainer = ut.Trainer(task, plugins=[seen], max_epochs=1, device="cpu")
    state = trainer.fit(dict_batches(), eval_data=dict_batches())
    steps = ["compute_step", "split_batch", "forward", "compute_losses", "compute_metrics"]
    assert task.calls == steps * 4  # two training and two evaluation batches
    result = seen.results[0]
    assert result.loss is not None and set(result.losses) == {"loss", "l2"}
    assert torch.equal(result.loss, result.losses["loss"][1])  # weight 0.0 left l2 out
    assert result.metrics["ones"].item() == 1.0 and result.batch_size == 4
    assert set(state.eval_metrics["val"]) == {"loss", "loss/loss", "loss/l2", "accuracy", "ones"}
    task.calls.clear()
    predictions = trainer.predict(dict_batches())
    assert task.calls == ["predict_batch", "split_batch", "forward"] * 2
    assert predictions[0].shape == (4,) and predictions[0].dtype == torch.int64


def test_a_plugin_stage_wins_over_the_task() -> None:
    task = Substeps(make_model(), loss=nn.CrossEntropyLoss(), optimizer=sgd)

    class Replacement:
        def run_forward(self, state: ut.State, batch: Any) -> ut.StepResult:
            loss = task.model(batch["pixels"]).logsumexp(-1).mean()
            return ut.StepResult(loss=loss, batch_size=4)

    ut.Trainer(task, plugins=[Replacement()], max_epochs=1, device="cpu").fit(dict_batches())
    assert task.calls == []


def test_plain_dict_batches_with_the_usual_keys() -> None:
    data = [{"input": x, "target": y} for x, y in make_batches(2)]
    trainer = ut.Trainer(make_task(), max_epochs=2, device="cpu")
    state = trainer.fit(data, eval_data=data)
    assert state.global_step == 4 and 0.0 <= state.eval_metrics["val"]["accuracy"] <= 1.0


# ---------------------------------------------------------------- the IMiniBatch path


class Points(ut.IMiniBatch):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y
        self.logits: torch.Tensor | None = None


class Point(ut.IDatum):
    train_batch_size = 4
    val_batch_size = 3

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    @staticmethod
    def collate(data: Sequence[ut.IDatum]) -> Points:
        points = [d for d in data if isinstance(d, Point)]
        return Points(torch.stack([p.x for p in points]), torch.stack([p.y for p in points]))


class PointSet(ut.IDataset):
    datum_type = Point

    def __init__(self, count: int) -> None:
        super().__init__()
        x, y = (torch.cat(t) for t in zip(*make_batches(count, size=1, seed=3), strict=True))
        self.data = list(zip(x, y, strict=True))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> ut.IDatum:
        return Point(*self.data[index])


class Net(nn.Module):
    """Fills the minibatch in place and returns a regularizer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = make_model()

    def forward(self, mb: Points) -> torch.Tensor:
        mb.logits = self.body(mb.x)
        return sum(p.pow(2).sum() for p in self.body.parameters())  # type: ignore[return-value]


class CrossEntropy(ut.ILoss):
    loss_reweight = 0.5

    def forward(self, mb: Points) -> torch.Tensor:
        assert mb.model is not None and mb.logits is not None  # the back-reference is set
        return nn.functional.cross_entropy(mb.logits, mb.y, reduction="none")


class Correct(ut.IMiniBatchMetric):
    def forward(self, mb: Points) -> torch.Tensor:
        assert mb.logits is not None
        return (mb.logits.argmax(-1) == mb.y).float()


def minibatch_task() -> ut.Task:
    return ut.Task(
        Net(),
        losses={"ce": CrossEntropy()},
        metrics={"correct": Correct()},
        dataset_metrics={"dataset_correct": ut.AverageMetric(Correct())},
        optimizer=sgd,
        regularizer_reweight=1e-3,
    )


def test_minibatch_step_result() -> None:
    seen = Seen()
    task = minibatch_task()
    trainer = ut.Trainer(task, plugins=[seen], max_epochs=1, device="cpu")
    trainer.fit(PointSet(8))
    result = seen.results[0]
    assert set(result.losses) == {"ce", "regularizer"}
    (ce_weight, ce), (reg_weight, reg) = result.losses["ce"], result.losses["regularizer"]
    assert (ce_weight, reg_weight) == (0.5, 1e-3)
    assert result.loss is not None
    torch.testing.assert_close(result.loss, 0.5 * ce + 1e-3 * reg)
    assert result.batch_size == 4 and set(result.metrics) == {"correct"}


def test_minibatch_evaluation_with_dataset_metrics() -> None:
    task = minibatch_task()
    trainer = ut.Trainer(task, max_epochs=1, device="cpu")
    data = PointSet(7)  # eval batches of 3: 3 + 3 + 1
    metrics = trainer.evaluate(data)
    with torch.no_grad():
        batch = Point.collate([data[i] for i in range(7)])
        task.model(batch)
        expected = Correct()(batch).item()
    assert metrics["dataset_correct"] == pytest.approx(expected)
    assert metrics["correct"] == pytest.approx(expected)  # sample-weighted mean too
    assert set(metrics) == {"loss", "loss/ce", "loss/regularizer", "correct", "dataset_correct"}
    # a second pass starts from a reset dataset metric
    assert trainer.evaluate(data)["dataset_correct"] == pytest.approx(expected)


def test_minibatch_predict_returns_filled_minibatches() -> None:
    trainer = ut.Trainer(minibatch_task(), max_epochs=1, device="cpu")
    outputs = trainer.predict(PointSet(5))
    assert [type(o) for o in outputs] == [Points, Points]
    assert all(o.logits is not None and o.logits.shape == (o.batch_size, 2) for o in outputs)


def test_minibatch_training_learns() -> None:
    task = minibatch_task()
    trainer = ut.Trainer(task, max_epochs=15, device="cpu")
    before = trainer.evaluate(PointSet(16))["loss/ce"]
    trainer.fit(PointSet(16))
    assert trainer.evaluate(PointSet(16))["loss/ce"] < before


# ---------------------------------------------------------------- task settings


def test_optimizer_instance_or_factory() -> None:
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters())
    task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=optimizer)
    state = ut.Trainer(task, max_epochs=1, device="cpu").fit(make_batches(1))
    assert state.optimizers == (optimizer,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "net"}, r"Task\(model=...\): expected a torch.nn.Module"),
        ({"loss": nn.MSELoss(), "losses": {"a": nn.MSELoss()}}, "not both"),
        ({"optimizer": 0.1}, r"Task\(optimizer=...\): expected an optimizer or a function"),
    ],
)
def test_bad_task_settings(kwargs: dict[str, Any], match: str) -> None:
    model = kwargs.pop("model", nn.Linear(FEATURES, 2))
    with pytest.raises(ut.ConfigError, match=match):
        ut.Task(model, **kwargs)


def test_an_override_keeps_the_ordering_of_the_stage_it_overrides() -> None:
    # EvalStages.on_eval_end is tryfirst so that every plugin sees the dataset metrics; an
    # override written without @hookimpl must keep that place in the order.
    seen: list[dict[str, float]] = []

    class Logged(ut.Task):
        def on_eval_end(self, state: ut.State, split: str, metrics: dict[str, float]) -> None:
            super().on_eval_end(state, split, metrics)
            metrics["extra"] = 1.0

    class EarlyLogger:
        order = -5

        def on_eval_end(self, metrics: dict[str, float]) -> None:
            seen.append(dict(metrics))

    net = Net()
    task = Logged(
        net,
        losses={"ce": CrossEntropy()},
        optimizer=sgd,
        dataset_metrics={"dataset_correct": ut.AverageMetric(Correct())},
    )
    ut.Trainer(task, plugins=[EarlyLogger()], max_epochs=1, device="cpu").evaluate(PointSet(3))
    assert {"dataset_correct", "extra"} <= set(seen[0])
