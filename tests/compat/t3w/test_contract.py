"""t3w's contract names on the native contract."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import unitrain as ut
from tests.compat.t3w._tiny import Point, Points, PointSet
from unitrain.compat import t3w


def test_the_contract_is_the_native_one() -> None:
    assert issubclass(t3w.IMiniBatch, ut.IMiniBatch) and issubclass(t3w.IDatum, ut.IDatum)
    assert issubclass(t3w.IDataset, ut.IDataset) and t3w.ILoss is ut.ILoss
    assert t3w.IMiniBatchMetric is ut.IMiniBatchMetric
    assert issubclass(t3w.AverageMetric, ut.AverageMetric)


def test_nopad_batch_size_is_the_native_padding() -> None:
    mb = Points(torch.zeros(5, 3), torch.zeros(5, dtype=torch.long))
    assert mb._nopad_batch_size == 5
    mb._nopad_batch_size = 3
    assert mb.padding == 2 and mb.nopad_batch_size == 3
    metric = t3w.IMiniBatchMetric()
    metric.forward = lambda mb: torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0])  # type: ignore[method-assign]
    assert metric(mb).item() == 1.0  # padding samples are left out of the mean


def test_dataset_split_defaults_to_none_and_from_uuid_rebuilds_a_datum() -> None:
    dataset = PointSet("root")
    assert dataset.split is None and dataset.root == "root"
    datum = Point.from_uuid((PointSet, "root", None, 3))
    assert isinstance(datum, Point) and torch.equal(datum.x, dataset[3].x)
    with pytest.raises(TypeError, match="dataset_type, root, split"):
        Point.from_uuid(3)


def test_dataset_metric_can_be_called_like_a_minibatch_metric() -> None:
    metric = t3w.AverageMetric(t3w.IMiniBatchMetric())
    metric.minibatch_metric.forward = lambda mb: mb.x[:, 0]  # type: ignore[method-assign,union-attr]
    first = Points(torch.tensor([[1.0], [3.0]]), torch.zeros(2))
    second = Points(torch.tensor([[5.0]]), torch.zeros(1))
    assert metric(first).item() == 2.0
    assert metric(second).item() == 3.0  # (1 + 3 + 5) / 3, sample-weighted
    assert metric.float() == 3.0 and metric.to("cpu") is metric


def test_manual_seed_seeds_every_generator() -> None:
    t3w.manual_seed(11)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    t3w.manual_seed(11)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
