"""The typed contract: minibatches, datums, datasets, minibatch / dataset metrics, losses."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import torch

import unitrain as ut


class Minibatch(ut.IMiniBatch):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, padding: int = 0) -> None:
        self.x, self.y = x, y
        self.padding = padding
        self.label = "not a tensor"


class Correct(ut.IMiniBatchMetric):
    def forward(self, mb: Minibatch) -> torch.Tensor:
        return (mb.x.argmax(-1) == mb.y).float()  # per sample


class Constant(ut.IMiniBatchMetric):
    def forward(self, mb: Minibatch) -> float:
        return 2.5  # a plain number is accepted too


def batch(rows: list[list[float]], labels: list[int], padding: int = 0) -> Minibatch:
    return Minibatch(torch.tensor(rows), torch.tensor(labels), padding)


def test_minibatch_tensors_to_and_sizes() -> None:
    mb = batch([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], [0, 0, 1], padding=1)
    assert [name for name, _ in mb.tensors()] == ["x", "y"]
    assert mb.batch_size == 3 and mb.nopad_batch_size == 2
    assert mb.to("meta") is mb and mb.x.is_meta and mb.label == "not a tensor"


def test_minibatch_without_a_batch_dimension() -> None:
    class Empty(ut.IMiniBatch):
        def __init__(self) -> None:
            self.scale = torch.tensor(1.0)

    with pytest.raises(ut.BatchError, match="Empty has no tensor attribute with a batch dimension"):
        _ = Empty().batch_size


def test_datum_defaults_and_missing_collate() -> None:
    class Sample(ut.IDatum):
        pass

    assert (Sample.train_batch_size, Sample.val_batch_size, Sample.num_workers) == (2, 2, 0)
    with pytest.raises(ut.BatchError, match=r"Sample.collate is not defined: give Sample a"):
        Sample.collate([Sample()])
    assert repr(Sample()) == "Sample(uuid=None)"


def test_dataset_must_define_len_and_getitem() -> None:
    class Raw(ut.IDataset):
        pass

    raw = Raw(root="/data", split="val")
    assert (raw.root, raw.split, raw.datum_type) == ("/data", "val", ut.IDatum)
    with pytest.raises(TypeError, match="Raw must define __len__"):
        len(raw)
    with pytest.raises(TypeError, match="Raw must define __getitem__"):
        raw[0]


def test_minibatch_metric_ignores_padding() -> None:
    metric = Correct()
    mb = batch([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], [0, 0, 0], padding=1)
    value = metric(mb)
    assert value.item() == pytest.approx(0.5)  # the padded third sample (wrong) is left out
    assert metric.raw_output is not None and metric.raw_output.shape == (3,)
    assert metric.higher_better
    assert Constant()(mb).item() == 2.5 and Constant()(mb).dim() == 0


def test_loss_is_lower_better_with_a_reweight() -> None:
    class Scaled(ut.ILoss):
        loss_reweight = 0.5

        def forward(self, mb: Minibatch) -> torch.Tensor:
            return mb.x.sum(-1)

    loss = Scaled()
    assert not loss.higher_better and loss.loss_reweight == 0.5
    assert loss(batch([[1.0, 2.0], [3.0, 4.0]], [0, 0])).item() == pytest.approx(5.0)


def test_dataset_metric_base() -> None:
    metric = ut.IDatasetMetric()
    metric.reset()
    metric.update(None)
    metric.synchronize()
    with pytest.raises(TypeError, match="must define eval"):
        metric.eval()

    class Lower(ut.IMiniBatchMetric):
        higher_better = False

    assert not ut.IDatasetMetric(Lower()).higher_better


def test_average_metric_weights_by_real_sample_count() -> None:
    metric = ut.AverageMetric(Correct())
    assert math.isnan(metric.eval())
    metric.update(batch([[1.0, 0.0]] * 3, [0, 0, 0]))  # 3 of 3 correct
    metric.update(batch([[1.0, 0.0]] * 2, [1, 0], padding=1))  # 0 of 1 real correct
    metric.synchronize()  # no process group: nothing to do
    assert metric.eval() == pytest.approx(3 / 4)
    metric.reset()
    assert math.isnan(metric.eval())


def test_accuracy_is_per_sample() -> None:
    outputs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert ut.accuracy(outputs, torch.tensor([0, 1, 1])).tolist() == [1.0, 1.0, 0.0]


class Pixel(ut.IDatum):
    train_batch_size = 3
    val_batch_size = 2

    def __init__(self, value: float, label: int) -> None:
        self.value, self.label = value, label

    @staticmethod
    def collate(data: Sequence[ut.IDatum]) -> Minibatch:
        pixels = [d for d in data if isinstance(d, Pixel)]
        x = torch.tensor([[p.value, -p.value] for p in pixels])
        return Minibatch(x, torch.tensor([p.label for p in pixels]))


class Pixels(ut.IDataset):
    datum_type = Pixel

    def __len__(self) -> int:
        return 5

    def __getitem__(self, index: int) -> ut.IDatum:
        return Pixel(float(index), index % 2)


def test_a_dataset_is_batched_by_its_datum_type() -> None:
    from unitrain.core.data import make_loader

    train = make_loader(Pixels(), "train_data", train=True)
    evaluation = make_loader(Pixels(), "eval_data", train=False)
    assert train.expect_minibatch and train.length() == 2  # batches of 3: 3 + 2
    assert [b.batch_size for b in evaluation.batches] == [2, 2, 1]
    assert all(isinstance(b, Minibatch) for b in train.batches)
    first = [b.x[:, 0].tolist() for b in make_loader(Pixels(), "t", train=True).batches]
    again = [b.x[:, 0].tolist() for b in make_loader(Pixels(), "t", train=True).batches]
    assert first == again and sorted(v for b in first for v in b) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_average_metric_with_plain_batches_says_what_to_use_instead() -> None:
    import pytest
    import torch

    from unitrain import AverageMetric, BatchError, IMiniBatchMetric

    class Mean(IMiniBatchMetric):
        def forward(self, mb: object) -> torch.Tensor:
            return torch.zeros(())

    metric = AverageMetric(Mean())
    with pytest.raises(BatchError, match=r"needs IMiniBatch batches.*Task\(metrics=\.\.\.\)"):
        metric.update((torch.zeros(2, 3), torch.zeros(2)))
