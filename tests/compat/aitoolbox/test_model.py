"""ModelWrap, MultiLoss and MultiOptimizer on the engine, against plain PyTorch."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from tests.compat.aitoolbox._tiny import TinyNet, hand_loop, make_batches, make_loop, same
from unitrain.compat.aitoolbox import (
    AbstractModelFeedDefinition,
    ModelWrap,
    MultiLoss,
    MultiOptimizer,
    TrainLoop,
    TTBasicModel,
)
from unitrain.errors import ConfigError


class Feed(AbstractModelFeedDefinition):
    def get_loss(self, model: nn.Module, batch_data: Any, criterion: Any, device: Any) -> Any:
        return criterion(model(batch_data[0]), batch_data[1])

    def get_predictions(self, model: nn.Module, batch_data: Any, device: Any) -> Any:
        return model(batch_data[0]).argmax(1), batch_data[1], None


def test_model_wrap_trains_a_plain_module_like_a_hand_loop() -> None:
    plain = TinyNet()
    wrapped = ModelWrap(plain.body, Feed())
    loop = make_loop(wrapped, val=None)
    loop.fit(num_epochs=2)
    reference = TinyNet()
    hand_loop(reference, make_batches(), epochs=2)
    assert same(plain, reference)
    assert loop.predict_on_train_set()[0].shape == (16,)
    with pytest.raises(ConfigError, match="AbstractModelFeedDefinition"):
        ModelWrap(plain, object())  # type: ignore[arg-type]


class Basic(TTBasicModel):
    def __init__(self) -> None:
        super().__init__()
        self.inner = TinyNet()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.inner(inputs)


def test_tt_basic_model() -> None:
    model = Basic()
    loop = make_loop(model)
    loop.fit(num_epochs=1)
    reference = TinyNet()
    hand_loop(reference, make_batches(), epochs=1)
    assert same(model.inner, reference)


class TwoHeads(TinyNet):
    """Two losses on two parameter groups (body / head), one optimizer each."""

    def get_loss(self, batch_data: Any, criterion: Any, device: Any) -> Any:
        inputs, targets = batch_data
        hidden = self.body[1](self.body[0](inputs))
        logits = self.body[2](hidden)
        return MultiLoss({"ce": criterion(logits, targets), "reg": hidden.pow(2).mean()})


def _hand_two_heads(model: TwoHeads, batches: list[Any], epochs: int) -> None:
    body = torch.optim.SGD(model.body[2].parameters(), lr=0.1)
    head = torch.optim.SGD(model.body[0].parameters(), lr=0.05)
    for _ in range(epochs):
        for batch in batches:
            losses = model.get_loss(batch, nn.CrossEntropyLoss(), torch.device("cpu"))
            losses["ce"].backward(retain_graph=True)
            losses["reg"].backward()
            for optimizer in (body, head):
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)


def test_multi_loss_multi_optimizer_matches_plain_pytorch() -> None:
    model = TwoHeads()
    optimizer = MultiOptimizer(
        [
            torch.optim.SGD(model.body[2].parameters(), lr=0.1),
            torch.optim.SGD(model.body[0].parameters(), lr=0.05),
        ]
    )
    loop = TrainLoop(
        model,
        make_batches(),
        make_batches(2, seed=1),
        None,
        optimizer,
        nn.CrossEntropyLoss(),
        device="cpu",
        print_epoch_losses=False,
    )
    loop.fit(num_epochs=2)
    reference = TwoHeads()
    _hand_two_heads(reference, make_batches(), epochs=2)
    assert same(model, reference)
    history = loop.train_history
    assert len(history["val_loss_ce"]) == 2 and len(history["loss_reg"]) == 2
    assert set(loop.evaluate_loss_on_validation_set()) == {"ce", "reg"}
    assert len(optimizer.state_dict()) == 2


def test_multi_loss_and_optimizer_validation() -> None:
    with pytest.raises(ConfigError, match="empty"):
        MultiLoss({})
    with pytest.raises(ConfigError, match="loss_optimizer_map"):
        MultiLoss({"a": torch.tensor(1.0)}, loss_optimizer_map={})
    with pytest.raises(ConfigError, match="at least one optimizer"):
        MultiOptimizer([])
    with pytest.raises(ConfigError, match=r"optimizer_list\[0\]\).*not an optimizer"):
        MultiOptimizer([object()])
    optimizer = MultiOptimizer([torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1)])
    with pytest.raises(ConfigError, match="2 states for 1"):
        optimizer.load_state_dict([{}, {}])
    as_floats = MultiLoss({"a": torch.tensor(2.0)}).item()
    assert isinstance(as_floats, MultiLoss) and as_floats.get_loss_dict() == {"a": 2.0}
