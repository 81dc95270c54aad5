"""TrainLoop on the unitrain engine: parity with plain PyTorch, history, lengths, errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

import unitrain as ut
from tests.compat.aitoolbox._tiny import TinyNet, hand_loop, make_batches, make_loop, same
from unitrain.compat.aitoolbox import TrainLoop
from unitrain.errors import ConfigError


def test_fit_is_bit_identical_to_a_hand_written_sgd_loop() -> None:
    loop = make_loop()
    returned = loop.fit(num_epochs=3)
    reference = TinyNet()
    hand_loop(reference, make_batches(), epochs=3)
    assert returned is loop.model
    assert same(loop.model, reference)


def test_grad_accumulation_matches_the_hand_loop_and_the_large_batch() -> None:
    batches = make_batches(count=4, size=4)
    loop = make_loop(train=batches)
    loop.fit(num_epochs=2, grad_accumulation=2)
    reference = TinyNet()
    hand_loop(reference, batches, epochs=2, accumulation=2)
    assert same(loop.model, reference)
    # The same as one batch of 8 per step, up to float rounding.
    large = [
        (torch.cat([a[0], b[0]]), torch.cat([a[1], b[1]]))
        for a, b in zip(batches[::2], batches[1::2], strict=True)
    ]
    big = TinyNet()
    hand_loop(big, large, epochs=2)
    for mine, theirs in zip(loop.model.parameters(), big.parameters(), strict=True):
        assert torch.allclose(mine, theirs, atol=1e-6)
    assert loop.state.global_step == 4 and loop.state.micro_step == 8


def test_partial_last_window_still_steps() -> None:
    batches = make_batches(count=3)
    loop = make_loop(train=batches)
    loop.fit(num_epochs=1, grad_accumulation=2)
    reference = TinyNet()
    hand_loop(reference, batches, epochs=1, accumulation=2)
    assert same(loop.model, reference)
    assert loop.state.global_step == 2


def test_end_of_epoch_losses_enter_the_history() -> None:
    train, val = make_batches(), make_batches(2, seed=1)
    loop = make_loop(train=train, val=val, test=val[:1])
    loop.fit(num_epochs=2)
    history = loop.train_history
    assert [len(history[k]) for k in ("loss", "val_loss", "accumulated_loss")] == [2, 2, 2]
    criterion = nn.CrossEntropyLoss()
    with torch.no_grad():
        train_loss = sum(criterion(loop.model(x), y).item() for x, y in train) / len(train)
        val_loss = sum(criterion(loop.model(x), y).item() for x, y in val) / len(val)
        test_loss = criterion(loop.model(val[0][0]), val[0][1]).item()
    assert history["loss"][-1] == pytest.approx(train_loss, rel=1e-6)
    assert history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert history["train_end_test_loss"] == [pytest.approx(test_loss, rel=1e-6)]


def test_accumulated_loss_is_the_mean_training_batch_loss() -> None:
    train = make_batches()
    model = TinyNet()
    reference = TinyNet()
    losses = []
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    for x, y in train:
        loss = nn.CrossEntropyLoss()(reference(x), y)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    loop = make_loop(model=model, train=train, end_auto_eval=False)
    loop.fit(num_epochs=1)
    assert loop.train_history["accumulated_loss"] == [pytest.approx(sum(losses) / 4, rel=1e-6)]
    assert loop.train_history["loss"] == []  # end_auto_eval=False: no extra pass


def test_end_auto_eval_every_n_epochs() -> None:
    loop = make_loop(end_auto_eval=2)
    loop.fit(num_epochs=4)
    assert len(loop.train_history["val_loss"]) == 2
    assert len(loop.train_history["accumulated_loss"]) == 4


def test_num_iterations_counts_batches() -> None:
    loop = make_loop()
    loop.fit(num_iterations=6)
    assert loop.state.micro_step == 6 and loop.epoch == 1
    loop = make_loop()
    loop.fit(num_iterations=6, grad_accumulation=2)
    assert loop.state.micro_step == 6 and loop.state.global_step == 3


def test_second_fit_continues_the_epochs() -> None:
    loop = make_loop()
    loop.fit(num_epochs=2)
    loop(num_epochs=3)  # __call__ is fit; 3 epochs in all
    reference = TinyNet()
    hand_loop(reference, make_batches(), epochs=3)
    assert same(loop.model, reference)
    assert loop.epoch == 2 and len(loop.train_history["loss"]) == 3


def test_native_plugin_in_callbacks_runs_in_the_same_fit() -> None:
    seen: list[int] = []

    class Native:
        def on_epoch_end(self, state: ut.State) -> None:
            seen.append(state.epoch)

    loop = make_loop()
    loop.fit(num_epochs=2, callbacks=[Native()])
    assert seen == [0, 1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_epochs": 0}, "exactly one"),
        ({"num_epochs": 1, "num_iterations": 2}, "exactly one"),
        ({"num_epochs": 1, "grad_accumulation": 0}, "grad_accumulation"),
        ({"num_epochs": 1, "num_gpus": 2}, "multi-GPU"),
    ],
)
def test_bad_fit_arguments_are_refused(arguments: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_loop().fit(**arguments)


def test_bad_construction_is_refused() -> None:
    batches = make_batches()
    plain = nn.Linear(3, 2)
    with pytest.raises(ConfigError, match="TTModel or ModelWrap"):
        TrainLoop(plain, batches, None, None, torch.optim.SGD(plain.parameters(), 0.1), None)
    with pytest.raises(ConfigError, match="gpu_mode"):
        make_loop(gpu_mode="cluster")
    with pytest.raises(ConfigError, match="torchrun"):
        make_loop(gpu_mode="ddp").fit(num_epochs=1)
    with pytest.raises(ConfigError, match="optimizer"):
        TrainLoop(TinyNet(), batches, None, None, "sgd", None)
    with pytest.raises(ConfigError, match="no callable zero_grad"):
        TrainLoop(TinyNet(), batches, None, None, SimpleNamespace(step=print), None)


def test_get_loss_must_return_a_tensor() -> None:
    class Bad(TinyNet):
        def get_loss(self, batch_data, criterion, device):  # type: ignore[no-untyped-def]
            return 1.0

    with pytest.raises(ut.StageError, match="get_loss returned float"):
        make_loop(model=Bad()).fit(num_epochs=1)
