"""An ikkuna driver in the shape of ikkuna's own ``main.py`` + ``train/train.py``, with only
the import lines changed (``ikkuna`` → ``unitrain.compat.ikkuna``).

ikkuna's ``load_dataset`` downloads torchvision data; the driver builds the same
``DatasetMeta`` from synthetic 12x12 images of 4 classes instead (no network in tests).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

import unitrain.compat.ikkuna.visualization
from unitrain.compat.ikkuna.export import Exporter
from unitrain.compat.ikkuna.export.messages import MessageBus
from unitrain.compat.ikkuna.export.subscriber import (
    ConditionNumberSubscriber,
    HistogramSubscriber,
    LossSubscriber,
    MeanSubscriber,
    MessageMeanSubscriber,
    NormSubscriber,
    RatioSubscriber,
    SpectralNormSubscriber,
    SumSubscriber,
    SVCCASubscriber,
    TestAccuracySubscriber,
    TrainAccuracySubscriber,
    VarianceSubscriber,
)
from unitrain.compat.ikkuna.utils import DatasetMeta, create_optimizer, seed_everything

CLASSES = 4


def synthetic(n: int, seed: int) -> DatasetMeta:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, CLASSES, (n,), generator=generator)
    centres = torch.randn(CLASSES, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    images = centres[labels] + 0.5 * torch.randn(n, 1, 12, 12, generator=generator)
    return DatasetMeta(
        dataset=TensorDataset(images, labels), num_classes=CLASSES, shape=(n, 12, 12, 1)
    )


class Trainer:
    """ikkuna's ``train.Trainer``: draws the next batch ahead, one ``train_batch`` per step."""

    def __init__(self, dataset_meta: DatasetMeta, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._dataset, self._num_classes, self._shape = dataset_meta
        self._batch_size = kwargs.pop("batch_size", 1)
        self._loss_function = kwargs.pop("loss", nn.CrossEntropyLoss())
        self._dataloader = DataLoader(
            self._dataset, batch_size=self._batch_size, shuffle=True, drop_last=True
        )
        self._data_iter = iter(self._dataloader)
        self._batches_per_epoch = self._shape[0] // self._batch_size
        self._epoch = 0
        self._scheduler = None
        self._next_X, self._next_Y = next(self._data_iter)
        self._exporter = kwargs.get("exporter", Exporter(kwargs.get("depth", -1)))
        self._exporter.set_loss(self._loss_function)

    @property
    def batches_per_epoch(self) -> int:
        return self._batches_per_epoch

    @property
    def model(self) -> nn.Module:
        return self._model

    @property
    def exporter(self) -> Exporter:
        return self._exporter

    def add_subscriber(self, subscriber) -> None:  # type: ignore[no-untyped-def]
        self._exporter.message_bus.register_subscriber(subscriber)

    def optimize(self, name: str = "Adam", **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._optimizer = create_optimizer(self._model, name, **kwargs)

    def set_model(self, model_or_str) -> None:  # type: ignore[no-untyped-def]
        if isinstance(model_or_str, str):
            from unitrain.compat.ikkuna.utils import get_model

            self._model = get_model(
                model_or_str,
                self._shape[1:],
                num_classes=self._num_classes,
                exporter=self._exporter,
            )
        else:
            self._model = model_or_str
        if self._exporter._model is None:
            self._exporter.set_model(self._model)

    def train_batch(self) -> None:
        self._model.train(True)
        data, labels = self._next_X, self._next_Y
        self._optimizer.zero_grad()
        output = self._model(data)
        loss = self._loss_function(output, labels)
        loss.backward()
        self._optimizer.step()
        try:
            self._next_X, self._next_Y = next(self._data_iter)
        except StopIteration:
            self._exporter.epoch_finished()
            self._epoch += 1
            self._data_iter = iter(self._dataloader)
            self._next_X, self._next_Y = next(self._data_iter)


def main(log_dir: str, epochs: int = 2, backend: str | None = "tb") -> Trainer:
    """``main.py --ratio weight_updates,weights --histogram weights ... --svcca`` as code: as
    there, the subscribers are made on the default bus and registered on the exporter's."""
    unitrain.compat.ikkuna.visualization.TBBackend.info = "driver: every shipped subscriber"
    unitrain.compat.ikkuna.visualization.configure_prefix(log_dir)
    seed_everything(0)
    dataset_train, dataset_test = synthetic(128, 0), synthetic(40, 1)
    bus = MessageBus("main")
    trainer = Trainer(
        dataset_train,
        batch_size=16,
        exporter=Exporter(depth=-1, module_filter=[torch.nn.Conv2d], message_bus=bus),
    )
    trainer.set_model("AlexNetMini")
    trainer.optimize(name="Adam", lr=0.01)
    add = trainer.add_subscriber
    add(SpectralNormSubscriber("weights", backend=backend))
    add(VarianceSubscriber("weight_gradients", backend=backend))
    add(
        TestAccuracySubscriber(
            dataset_test,
            trainer.model.forward,
            frequency=trainer.batches_per_epoch,
            batch_size=16,
            backend=backend,
        )
    )
    add(TrainAccuracySubscriber(backend=backend))
    ratio_subscriber = RatioSubscriber(["weight_updates", "weights"], backend=backend)
    add(ratio_subscriber)
    _type, topics = ratio_subscriber.publications.popitem()  # as main.py does
    add(MessageMeanSubscriber(topics[0], backend=backend))
    add(HistogramSubscriber("weights", backend=backend))
    add(NormSubscriber("weights", backend=backend))
    add(LossSubscriber(backend=backend))
    add(MeanSubscriber("activations", backend=backend))
    add(SumSubscriber("activations", backend=backend))
    add(ConditionNumberSubscriber("weights", backend=backend))
    add(
        SVCCASubscriber(
            dataset_test, 20, trainer.model.forward, subsample=trainer.batches_per_epoch,
            backend=backend,
        )
    )  # fmt: skip
    for _ in range(epochs):
        for _ in range(trainer.batches_per_epoch):
            trainer.train_batch()
    return trainer
