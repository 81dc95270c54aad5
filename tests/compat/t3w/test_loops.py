"""TrainLoop / EvalLoop on the engine: parity with a hand-written loop, seed bugs fixed."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, SequentialSampler

from tests.compat.t3w._tiny import (
    Accuracy,
    Classifier,
    CrossEntropy,
    Point,
    PointSet,
    make_module,
)
from unitrain.compat import t3w
from unitrain.errors import ConfigError


def _hand_written(dataset: PointSet, k: int, epochs: int, reweight: float) -> Classifier:
    """The steps t3w's loop takes, written out: zero at a window start, (loss / k).backward(),
    an optimizer step every k batches; loss = 0. + w_reg * reg + w * ce."""
    torch.manual_seed(0)
    model = Classifier(regularize=True)
    optim = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ce = CrossEntropy()
    ce.loss_reweight = reweight
    loader = DataLoader(
        dataset, batch_size=4, sampler=SequentialSampler(dataset), collate_fn=Point.collate
    )
    micro = 0
    for _ in range(epochs):
        for mb in loader:
            if micro % k == 0:
                optim.zero_grad()
            regularizer = model(mb)
            total: Any = 0.0
            total += 0.25 * regularizer
            total += reweight * ce(mb)
            (total / k).backward()
            micro += 1
            if micro % k == 0:
                optim.step()
    return model


@pytest.mark.parametrize("k", [1, 2])
def test_weights_are_bit_identical_to_a_hand_written_loop(k: int) -> None:
    dataset = PointSet(size=16)
    torch.manual_seed(0)
    model = Classifier(regularize=True)
    module = t3w.TopLevelModule(
        model,
        optim=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        regularizer_reweight=0.25,
    )
    ce = CrossEntropy()
    ce.loss_reweight = 0.5
    t3w.TrainLoop(
        dataset,
        module,
        losses={"ce": ce},
        sampler=SequentialSampler(dataset),
        num_acc_grad=k,
        epochs=2,
    )()
    reference = _hand_written(dataset, k, epochs=2, reweight=0.5)
    for (name, got), want in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(got, want), name
    assert module.training_progress.step == 8 // k  # optimizer steps, not micro-batches
    assert module.training_progress.micro_step == 8


def test_default_shuffle_is_seeded_from_torch_initial_seed() -> None:
    weights = []
    for _ in range(2):
        torch.manual_seed(3)
        module = make_module(seed=3)
        t3w.TrainLoop(PointSet(size=16), module, losses={"ce": CrossEntropy()}, epochs=2)()
        weights.append(module.user_model.linear.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_eval_loop_without_optimizer_works() -> None:
    model = Classifier()
    module = t3w.TopLevelModule(model)  # no optim: the seed crashed on optim.zero_grad()
    evaluation = t3w.EvalLoop(
        PointSet(size=7), module, metrics={"acc": t3w.AverageMetric(Accuracy())}
    )
    evaluation()
    batch = Point.collate([PointSet(size=7)[i] for i in range(7)])
    with torch.no_grad():
        model(batch)
    expected = Accuracy()(batch).item()
    assert evaluation.metric_values["acc"] == pytest.approx(expected)
    assert module.training  # back in train mode, as t3w left it


def test_defaults_are_not_shared_and_the_batch_sampler_does_not_grow_the_callers_list() -> None:
    first = t3w.TrainLoop(PointSet(), make_module())
    second = t3w.TrainLoop(PointSet(), make_module())
    first.side_effects.append(t3w.ISideEffect())
    assert second.side_effects == [] and first.metrics is not second.metrics
    dataset = PointSet(size=16)
    sampler = t3w.HarderBatchSampler(dataset, based_on=["ce"])
    mine: list[t3w.ISideEffect] = []
    loop = t3w.TrainLoop(dataset, make_module(), side_effects=mine, batch_sampler=sampler)
    assert mine == [] and loop.side_effects == [sampler]


def test_iter_per_epoch_draws_from_one_iterator_across_epochs() -> None:
    seen: list[list[int]] = []

    class Indices(t3w.ISideEffect):
        def on_train_step_started(self, loop: Any, step: int, mb: Any) -> None:
            seen.append(mb.y.tolist())

    dataset = PointSet(size=12)  # three batches of four
    t3w.TrainLoop(
        dataset,
        make_module(),
        losses={"ce": CrossEntropy()},
        sampler=SequentialSampler(dataset),
        iter_per_epoch=2,
        epochs=3,
        side_effects=[Indices()],
    )()
    batches = [dataset.y[i : i + 4].tolist() for i in (0, 4, 8)]
    assert seen == [batches[0], batches[1], batches[2], batches[0], batches[1], batches[2]]


def test_resume_continues_at_the_saved_epoch(tmp_path: Any) -> None:
    epochs_seen: list[int] = []

    class Epochs(t3w.ISideEffect):
        def on_train_epoch_started(self, loop: Any, epoch: int) -> None:
            epochs_seen.append(epoch)

        def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
            loop.model.save(tmp_path / "last.pt.gz")

    first = make_module()
    t3w.TrainLoop(
        PointSet(), first, losses={"ce": CrossEntropy()}, epochs=2, side_effects=[Epochs()]
    )()
    resumed = make_module(seed=1)
    resumed.load(tmp_path / "last.pt.gz")
    assert (resumed.training_progress.epoch, resumed.training_progress.step) == (2, 8)
    t3w.TrainLoop(
        PointSet(), resumed, losses={"ce": CrossEntropy()}, epochs=3, side_effects=[Epochs()]
    )()
    assert epochs_seen == [0, 1, 2]
    assert resumed.training_progress.step == 12


def test_training_a_real_model_lowers_the_loss_and_raises_accuracy() -> None:
    losses: list[float] = []

    class Mean(t3w.ISideEffect):
        def on_train_epoch_started(self, loop: Any, epoch: int) -> None:
            self.total, self.count = 0.0, 0

        def on_train_step_finished(self, loop: Any, step: int, mb: Any, step_return: Any) -> None:
            self.total += float(step_return["losses"]["ce"][1].detach())
            self.count += 1

        def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
            losses.append(self.total / self.count)

    module = make_module(lr=0.5)
    evaluation = t3w.EvalLoop(
        PointSet(size=40, seed=5), metrics={"acc": t3w.AverageMetric(Accuracy())}
    )
    evaluation.model = module
    evaluation()
    before = evaluation.metric_values["acc"]
    t3w.TrainLoop(
        PointSet(size=64),
        module,
        losses={"ce": CrossEntropy()},
        epochs=6,
        eval_loop=evaluation,
        side_effects=[Mean()],
    )()
    assert losses[-1] < losses[0] * 0.7
    assert evaluation.metric_values["acc"] > max(before, 0.8)


def test_bad_configurations_are_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="no optimizer"):
        t3w.TrainLoop(PointSet(), t3w.TopLevelModule(Classifier()))()
    with pytest.raises(ConfigError, match="fewer than one batch"):
        t3w.TrainLoop(PointSet(size=3), make_module(), losses={"ce": CrossEntropy()})()
    with pytest.raises(ConfigError, match="TopLevelModule"):
        t3w.TrainLoop(PointSet(), Classifier())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="datum_type"):
        t3w.EvalLoop([1, 2, 3])
    with pytest.raises(ConfigError, match="eval_loop="):
        t3w.EvalLoop(PointSet())()
    with pytest.raises(ConfigError, match="is not an IMediaProducer"):
        t3w.TrainLoop(PointSet(), make_module(), medias=[object()])  # type: ignore[list-item]
