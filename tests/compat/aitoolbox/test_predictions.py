"""Prediction and loss passes: the engine runs them, callbacks can see them, results cache."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import unitrain as ut
from tests.compat.aitoolbox._tiny import TinyNet, hand_loop, make_batches, make_loop, same
from unitrain.compat.aitoolbox import AbstractCallback


class Seen(AbstractCallback):
    def __init__(self) -> None:
        super().__init__("seen")
        self.batches: list[tuple[int, Any]] = []

    def on_after_batch_prediction(
        self, y_pred_batch: Any, y_test_batch: Any, metadata_batch: Any, dataset_info: Any
    ) -> None:
        self.batches.append((len(y_pred_batch), dataset_info))


def test_predict_on_sets_collates_batches() -> None:
    loop = make_loop(test=make_batches(1, seed=3))
    loop.fit(num_epochs=1)
    y_pred, y_true, metadata = loop.predict_on_validation_set()
    assert y_pred.shape == (8,) and torch.equal(
        y_true, torch.cat([b[1] for b in make_batches(2, seed=1)])
    )
    assert metadata == {"size": [4, 4]}
    assert loop.predict_on_train_set()[0].shape == (16,)
    assert loop.predict_on_test_set()[0].shape == (4,)


def test_after_batch_prediction_is_reachable() -> None:
    seen = Seen()
    loop = make_loop()
    loop.fit(num_epochs=1, callbacks=[seen])
    assert seen.batches == []  # training alone never predicts
    loop.predict_on_validation_set(execute_callbacks=True)
    assert seen.batches == [(4, {"type": "validation"})] * 2
    loop.predict_on_train_set()  # execute_callbacks=False: callbacks stay quiet
    assert len(seen.batches) == 2


def test_predictions_are_cached_per_iteration_unless_forced() -> None:
    loop = make_loop()
    loop.fit(num_epochs=1)
    first = loop.predict_on_validation_set()
    assert loop.predict_on_validation_set() is first
    assert loop.predict_on_validation_set(force_prediction=True) is not first


def test_prediction_inside_fit_keeps_the_loop_intact() -> None:
    class PredictEachBatch(AbstractCallback):
        def __init__(self) -> None:
            super().__init__("predict-each-batch")
            self.stages: list[tuple[str, bool]] = []

        def on_batch_end(self) -> None:
            loop = self.train_loop_obj
            loop.predict_on_validation_set(force_prediction=True, execute_callbacks=True)
            self.stages.append((loop.state.phase, loop.model.training))

    callback, seen = PredictEachBatch(), Seen()
    loop = make_loop()
    loop.fit(num_epochs=2, callbacks=[callback, seen])
    reference = TinyNet()
    hand_loop(reference, make_batches(), epochs=2)
    assert same(loop.model, reference)
    assert callback.stages == [("fit", True)] * 8 and len(seen.batches) == 16


def test_evaluate_loss_matches_the_mean_batch_loss() -> None:
    val = make_batches(2, seed=1)
    loop = make_loop(val=val)
    loop.fit(num_epochs=1)
    with torch.no_grad():
        expected = sum(nn.CrossEntropyLoss()(loop.model(x), y).item() for x, y in val) / 2
    assert loop.evaluate_loss_on_validation_set() == pytest.approx(expected, rel=1e-6)
    # aitoolbox: a float64 tensor, and with float_dict_format a float
    loss = loop.evaluate_loss_on_validation_set()
    assert isinstance(loss, torch.Tensor) and loss.dtype == torch.float64
    as_float = loop.evaluate_loss_on_validation_set(float_dict_format=True)
    assert type(as_float) is float and as_float == pytest.approx(expected, rel=1e-6)
    assert loop.train_history["val_loss"][-1] == pytest.approx(expected, rel=1e-6)


def test_epoch_end_evaluation_is_shared_through_the_cache() -> None:
    evaluations: list[str] = []

    class CountEvals:
        def on_eval_start(self, state: ut.State, split: str) -> None:
            evaluations.append(split)

    class ReadLoss(AbstractCallback):
        def on_epoch_end(self) -> None:
            self.train_loop_obj.evaluate_loss_on_validation_set()
            self.train_loop_obj.evaluate_loss_on_train_set()

    make_loop().fit(num_epochs=1, callbacks=[CountEvals(), ReadLoss("read")])
    assert evaluations == ["train", "val"]


def test_prediction_before_fit_and_missing_loader() -> None:
    loop = make_loop()
    y_pred, _, _ = loop.predict_on_validation_set()
    assert y_pred.shape == (8,)
    with pytest.raises(ut.ConfigError, match="no test_loader"):
        loop.predict_on_test_set()


def test_get_predictions_must_return_a_triple() -> None:
    class Bad(TinyNet):
        def get_predictions(self, batch_data, device):  # type: ignore[no-untyped-def]
            return self(batch_data[0])

    with pytest.raises(ut.StageError, match="y_pred, y_true, metadata"):
        make_loop(model=Bad()).predict_on_validation_set()
