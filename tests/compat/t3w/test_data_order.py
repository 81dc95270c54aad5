"""The t3w train order depends only on the seed and the batches drawn before (properties)."""

from __future__ import annotations

from itertools import islice

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from tests.compat.t3w._tiny import make_module
from unitrain.compat import t3w
from unitrain.compat.t3w.batches import EpochBatches, ShuffledPasses


def _loader(size: int, batch: int, seed: int) -> DataLoader[int]:
    return DataLoader(
        list(range(size)),
        batch_size=batch,
        sampler=ShuffledPasses(size, seed),
        drop_last=True,
        generator=torch.Generator(),
    )


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(2, 40),
    batch=st.integers(1, 8),
    seed=st.integers(0, 2**40),
    drawn=st.integers(0, 30),
    per_epoch=st.none() | st.integers(1, 7),
)
def test_starting_at_batch_k_continues_the_uninterrupted_order(
    size: int, batch: int, seed: int, drawn: int, per_epoch: int | None
) -> None:
    if size < batch:
        return

    def first(batches: EpochBatches, count: int) -> list[list[int]]:
        epochs = (b.tolist() for _ in range(count) for b in batches)  # >= count batches
        return list(islice(epochs, count))

    straight = first(EpochBatches(_loader(size, batch, seed), per_epoch, seed=seed), drawn + 20)
    resumed = EpochBatches(_loader(size, batch, seed), per_epoch, seed=seed, drawn=drawn)
    assert first(resumed, 20) == straight[drawn:]
    for start in range(0, len(straight) - size // batch, size // batch):  # each pass: a permutation
        one_pass = [i for b in straight[start : start + size // batch] for i in b]
        assert len(set(one_pass)) == len(one_pass)


def test_the_seed_is_kept_by_save_and_read_by_load(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    module = make_module()
    torch.manual_seed(1234)
    from tests.compat.t3w._tiny import CrossEntropy, PointSet

    t3w.TrainLoop(PointSet(size=8), module, losses={"ce": CrossEntropy()}, epochs=1)()
    assert module.data_seed == 1234  # t3w's torch.initial_seed(), taken once
    module.save(folder / "m.pt.gz")
    other = make_module()
    other.load(folder / "m.pt.gz")
    assert other.data_seed == 1234 and other.training_progress.micro_step == 2
