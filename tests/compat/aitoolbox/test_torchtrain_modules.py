"""The ``torchtrain`` module paths of aitoolbox, and the API that lives only there."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

import unitrain as ut
from tests.compat.aitoolbox._tiny import TinyNet, make_batches, make_loop
from unitrain.compat import aitoolbox as flat
from unitrain.compat.aitoolbox.torchtrain.callbacks.ddp import DistributedSamplerSetEpoch
from unitrain.compat.aitoolbox.torchtrain.data.dataset import BasicDataset, ListDataset
from unitrain.compat.aitoolbox.torchtrain.model_predict import PyTorchModelPredictor
from unitrain.compat.aitoolbox.torchtrain.parallel import TTDataParallel, TTParallelBase
from unitrain.compat.aitoolbox.torchtrain.train_loop.components import pred_collate_fns
from unitrain.compat.aitoolbox.torchtrain.train_loop.components.ddp_handler import DDPHandler
from unitrain.compat.aitoolbox.torchtrain.train_loop.components.model_prediction_store import (
    ModelPredictionStore,
)
from unitrain.errors import ConfigError

PATHS = {
    "torchtrain.train_loop": ["TrainLoop", "TrainLoopCheckpoint", "TrainLoopEndSave"],
    "torchtrain.model": ["TTModel", "TTBasicModel", "ModelWrap"],
    "torchtrain.multi_loss_optim": ["MultiLoss", "MultiOptimizer"],
    "torchtrain.callbacks.basic": ["EarlyStopping", "FunctionOnTrainLoop", "DataSubsetTestRun"],
    "torchtrain.callbacks.model_save": ["ModelCheckpoint", "ModelIterationCheckpoint"],
    "torchtrain.callbacks.model_load": ["ModelLoadContinueTraining"],
    "torchtrain.callbacks.performance_eval": ["ModelPerformanceEvaluation", "MetricHistoryRename"],
    "torchtrain.callbacks.gradient": ["GradNormClip", "GradValueClip"],
    "torchtrain.schedulers.basic": ["StepLRScheduler", "ReduceLROnPlateauScheduler"],
    "torchtrain.schedulers.warmup": ["LinearWithWarmupScheduler"],
    "torchtrain.train_loop.components.callback_handler": ["CallbacksHandler"],
    "torchtrain.train_loop.components.message_passing": ["MessageService", "MessageHandling"],
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_each_aitoolbox_path_answers_with_the_flat_objects(path: str) -> None:
    module = importlib.import_module(f"unitrain.compat.aitoolbox.{path}")
    for name in PATHS[path]:
        mirrored = getattr(module, name)
        assert getattr(flat, name, mirrored) is mirrored  # one class, two import paths


def test_datasets() -> None:
    assert len(BasicDataset([1, 2, 3])) == 3 and BasicDataset(torch.arange(4))[2] == 2
    listed = ListDataset(["a", "b"], [1, 2])
    assert len(listed) == 2 and listed[1] == ("b", 2)
    with pytest.raises(ConfigError, match="different lengths"):
        ListDataset([1], [1, 2])


class Counted(TinyNet):
    """A TTModel with an extra method and an attribute for the wrapper to carry."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.tag = "tiny"
        self.hidden = "not transferred"
        self.transfer_model_attributes = ["tag", "calls"]

    def get_loss(self, batch_data: Any, criterion: Any, device: Any) -> Any:
        self.calls += 1  # on the wrapper: its own copy of `calls`
        return self.described(), self(batch_data)

    def described(self) -> str:
        return f"{self.tag}:{self.calls}"

    def peek(self) -> str:
        return self.hidden


def test_parallel_wrappers_run_the_model_methods_on_the_wrapper() -> None:
    model = Counted()
    for wrapped in (TTParallelBase(model), TTDataParallel(model)):
        assert wrapped.described() == "tiny:0"
    parallel = TTDataParallel(model)
    inputs = torch.randn(2, 3)
    text, output = parallel.get_loss(inputs, None, "cpu")
    assert text == "tiny:1" and parallel.calls == 1 and model.calls == 0
    assert torch.equal(output, model(inputs))  # self(...) went through DataParallel.forward
    with pytest.raises(AttributeError):
        parallel.peek()  # not in transfer_model_attributes: out of reach, as in aitoolbox
    with pytest.raises(ConfigError, match="has no get_loss"):
        TTParallelBase(nn.Linear(2, 2))


def test_pred_collate_fns_and_store() -> None:
    assert pred_collate_fns.append_concat_predictions([1, 2], [0]) == [0, 1, 2]
    assert pred_collate_fns.append_concat_predictions(3, [0]) == [0, 3]
    assert pred_collate_fns.keep_list_transf([1]) == [1]
    store = ModelPredictionStore(auto_purge=True)
    store.insert_val_predictions("p", 0)
    assert store.has_val_predictions(0) and store.get_val_predictions(0) == "p"
    with pytest.raises(ValueError, match="already cached"):
        store.insert_val_predictions("q", 0)
    store.insert_train_loss(1.0, 3)
    assert store.prediction_store == {"iteration_idx": 3, "train_loss": 1.0}
    with pytest.raises(ValueError, match="no val_pred cached"):
        store.get_val_predictions(3)


def test_predictor_predicts_and_evaluates_without_training() -> None:
    batches = make_batches(3)
    predictor = PyTorchModelPredictor(TinyNet(), batches)
    y_pred, y_true, metadata = predictor.model_predict()
    assert y_pred.shape == y_true.shape
    assert torch.equal(y_true, torch.cat([y for _, y in batches])) and metadata["size"] == [4] * 3
    loss = predictor.model_get_loss(nn.CrossEntropyLoss())
    with torch.no_grad():
        expected = sum(nn.CrossEntropyLoss()(TinyNet()(x), y).item() for x, y in batches) / 3
    assert loss.dtype == torch.float64 and float(loss) == pytest.approx(expected, rel=1e-6)
    assert predictor.train_loop.optimizer is None


class Duck:
    """An optimizer by duck typing: wraps SGD and counts aitoolbox's calls."""

    def __init__(self, params: Any) -> None:
        self.inner = torch.optim.SGD(params, lr=0.1)
        self.steps = self.zeros = 0

    def step(self) -> None:
        self.steps += 1
        self.inner.step()

    def zero_grad(self) -> None:
        self.zeros += 1
        self.inner.zero_grad()

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()


def test_duck_typed_optimizer_gets_aitoolbox_calls_and_same_weights() -> None:
    reference = make_loop(val=None)
    reference.fit(num_epochs=2, grad_accumulation=3)
    model = TinyNet()
    duck = Duck(model.parameters())
    loop = make_loop(model=model, val=None)
    loop.optimizer = duck
    loop.fit(num_epochs=2, grad_accumulation=3)
    # 4 batches, windows of 3: steps after batches 3 and 4 of each epoch
    assert duck.steps == duck.zeros == 4
    pairs = zip(model.parameters(), reference.model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    with pytest.raises(ut.StageError, match="only predict"):
        flat.TrainLoop(TinyNet(), make_batches(), None, None, None, None).fit(1)


def test_engine_accepts_a_duck_typed_optimizer() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    duck = Duck(model.parameters())

    class DuckTask(ut.Task):
        def make_optimizer(self, state: ut.State, model: nn.Module) -> Any:
            return duck

    ut.Trainer(DuckTask(model, loss=nn.CrossEntropyLoss()), max_epochs=1, device="cpu").fit(
        make_batches()
    )
    assert duck.steps == 4 and duck.zeros == 5  # the engine also clears once before the fit

    class NotOne(ut.Task):
        def make_optimizer(self, state: ut.State, model: nn.Module) -> Any:
            return SimpleNamespace(step=print)

    with pytest.raises(ut.StageError, match="step\\(\\) and zero_grad\\(\\)"):
        ut.Trainer(NotOne(model, loss=nn.CrossEntropyLoss()), max_epochs=1).fit(make_batches())


def test_ddp_handler_rebuilds_loaders_with_samplers() -> None:
    data = BasicDataset(list(range(8)))
    loop = make_loop(train=DataLoader(data, shuffle=True), val=DataLoader(data))
    DDPHandler(loop).add_distributed_samplers(world_size=2, rank=1)
    sampler = loop.train_loader.sampler
    assert isinstance(sampler, DistributedSampler) and sampler.shuffle and sampler.rank == 1
    assert not loop.validation_loader.sampler.shuffle
    assert isinstance(loop.callbacks[0], DistributedSamplerSetEpoch)
    loop.epoch = 3
    loop.callbacks_handler.execute_epoch_begin()
    assert sampler.epoch == 3 and loop.validation_loader.sampler.epoch == 3
