"""What each rank runs in the distributed tests (module level, so spawned ranks find it)."""

from __future__ import annotations

import os
import signal
import time
import warnings
from functools import partial
from typing import Any

import torch
import torch._dynamo  # DDP imports it (seconds); forked ranks inherit it from here
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
from unitrain.distributed import DDPStrategy, full_state_dict

FEATURES = 6


def dataset(size: int, seed: int = 1) -> TensorDataset:
    """``size`` samples of a noisy linear 2-class problem (the same on every rank)."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(size, FEATURES, generator=generator)
    targets = (inputs[:, 0] + 0.5 * torch.randn(size, generator=generator) > 0).long()
    return TensorDataset(inputs, targets)


def make_trainer(
    plugins: tuple[object, ...] = (), dropout: float = 0.0, **settings: Any
) -> ut.Trainer:
    """A tiny classifier with SGD; the same initial weights in every process."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, 8), nn.ReLU(), nn.Dropout(dropout), nn.Linear(8, 2))
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy},
        optimizer=partial(torch.optim.SGD, lr=0.3, momentum=0.9),
    )
    settings.setdefault("max_epochs", 2)
    return ut.Trainer(task, plugins=list(plugins), **settings)


def weights(trainer: ut.Trainer) -> torch.Tensor:
    """Every parameter, flattened into one vector (full tensors also under FSDP)."""
    assert trainer.state.model is not None
    parts = []
    for parameter in trainer.state.model.parameters():
        value = parameter.detach()
        full = getattr(value, "full_tensor", None)
        parts.append((full() if full is not None else value).flatten())
    return torch.cat(parts)


class Seen:
    """Records the ranks it was registered on (through a file per rank, for spawned runs)."""

    def __init__(self, name: str, ranks: object, directory: str | None = None) -> None:
        self.name, self.ranks, self.directory = name, ranks, directory
        self.fit_starts = 0

    def on_fit_start(self, state: ut.State) -> None:
        self.fit_starts += 1
        if self.directory is not None:
            path = os.path.join(self.directory, f"{self.name}-rank{state.rank}")
            with open(path, "w") as file:
                file.write(str(state.world_size))


class StopAt:
    """Requests a stop at one global step (registered where its ``ranks`` says)."""

    def __init__(self, ranks: object, step: int, when: str = "now") -> None:
        self.ranks, self.step, self.when = ranks, step, when

    def on_train_step_end(self, state: ut.State, batch: Any, result: Any) -> None:
        if state.micro_step == self.step:
            state.request_stop(self.when, "asked by the test")  # type: ignore[arg-type]


class SigtermAt:
    """Sends this process a SIGTERM during one micro-step."""

    def __init__(self, ranks: object, micro_step: int) -> None:
        self.ranks, self.micro_step = ranks, micro_step

    def on_train_step_start(self, state: ut.State, batch: Any) -> None:
        if state.micro_step == self.micro_step:
            os.kill(os.getpid(), signal.SIGTERM)


class FailAt:
    """Raises on one rank at one micro-step."""

    ranks = 1

    def on_train_step_start(self, state: ut.State, batch: Any) -> None:
        if state.micro_step == 1:
            raise ValueError(f"deliberate failure on rank {state.rank}")


def count_allreduces(trainer: ut.Trainer) -> list[int]:
    """Install a DDP comm hook that counts gradient all-reduces; returns the counter."""
    calls = [0]

    def hook(_, bucket):  # type: ignore[no-untyped-def]  # DDP checks the annotations
        calls[0] += 1
        tensor = bucket.buffer().div_(dist.get_world_size())
        return dist.all_reduce(tensor, async_op=True).get_future().then(lambda f: f.value()[0])

    plugin = trainer.plugins.get("distributed")
    plugin.wrapped.register_comm_hook(None, hook)  # type: ignore[union-attr]
    return calls


# ------------------------------------------------------------------ rank bodies


def ddp_basics() -> dict[str, Any]:
    """Equality with one process, exact eval, no_sync, rank gating, in one launch."""
    main, one, every = Seen("main", "main"), Seen("one", 1), Seen("every", "all")
    trainer = make_trainer((main, one, every))
    trainer.fit(
        DataLoader(dataset(32), batch_size=8),
        eval_data=DataLoader(dataset(17, seed=2), batch_size=4),
    )
    out: dict[str, Any] = {
        "rank": trainer.state.rank,
        "weights": weights(trainer),
        "metrics": trainer.state.eval_metrics["val"],
        "registered": sorted(n for n in ("main", "one", "every") if n in trainer.plugins),
        "fit_starts": (main.fit_starts, one.fit_starts, every.fit_starts),
    }
    accumulate = make_trainer(accumulation=2)
    calls = count_allreduces(accumulate)
    accumulate.fit(DataLoader(dataset(32), batch_size=4))
    out["accumulated"] = weights(accumulate)
    out["allreduces"] = calls[0]
    out["steps"] = accumulate.state.global_step
    for option in ("static_graph", "find_unused_parameters"):
        variant = make_trainer(accumulation=2, strategy=DDPStrategy(**{option: True}))
        variant.fit(DataLoader(dataset(32), batch_size=4))
        out[option] = weights(variant)
    return out


def stop_agreement() -> dict[str, Any]:
    """Stops asked on one rank only (mid-window, at epoch end, by SIGTERM) stop every rank."""
    out: dict[str, Any] = {}
    mid = make_trainer((StopAt("main", 3),), accumulation=2, max_epochs=3)
    mid.fit(DataLoader(dataset(32), batch_size=4))
    out["mid_window"] = (mid.state.global_step, mid.state.micro_step, mid.state.stop_reason)
    epoch = make_trainer((StopAt(1, 1, "epoch_end"),), max_epochs=3)
    epoch.fit(DataLoader(dataset(32), batch_size=4))
    out["epoch_end"] = (epoch.state.epoch, epoch.state.global_step)
    sparse = make_trainer((StopAt("main", 1),), max_epochs=3, strategy=DDPStrategy(agree_every=3))
    sparse.fit(DataLoader(dataset(32), batch_size=4))
    out["agree_every_3"] = sparse.state.global_step
    term = make_trainer((SigtermAt(1, 1),), max_epochs=3)
    term.fit(DataLoader(dataset(32), batch_size=4))
    out["sigterm"] = (term.state.global_step, term.state.stop_reason)
    out["handler_restored"] = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    return out


def exact_resume() -> dict[str, Any]:
    """A 2-process run split at an epoch boundary ends bit-identical to the straight run."""
    train = dataset(32)
    straight = make_trainer(dropout=0.3, max_epochs=2)
    straight.fit(DataLoader(train, batch_size=4, shuffle=True))
    first = make_trainer(dropout=0.3, max_epochs=1)
    first.fit(DataLoader(train, batch_size=4, shuffle=True))
    checkpoint = full_state_dict(first)
    resumed = make_trainer(dropout=0.3, max_epochs=2)
    resumed.load_state_dict(checkpoint)
    resumed.fit(DataLoader(train, batch_size=4, shuffle=True))
    checkpoint["plugins"]["distributed"]["world_size"] = 1
    refused = ""
    try:
        make_trainer().load_state_dict(checkpoint)
    except ut.UnitrainError as error:
        refused = str(error)
    return {
        "straight": weights(straight),
        "resumed": weights(resumed),
        "refused": refused,
        "rng_saved": len(checkpoint["plugins"]["distributed"]["rng"]),
    }


def resume_latest(folder: str) -> dict[str, Any]:
    """The checkpoint plugin writes on rank 0 only; ``resume="latest"`` must still bring
    every rank to the same checkpoint (rank 0 finds it and tells the others)."""
    from unitrain.plugins.checkpoint import Checkpoint

    train = DataLoader(dataset(32), batch_size=4, shuffle=True)
    first = make_trainer((Checkpoint(folder, every_n_steps=1, every_n_epochs=None),), max_steps=3)
    first.fit(train)
    resumed = make_trainer((Checkpoint(folder, every_n_steps=1, every_n_epochs=None),))
    resumed.fit(train, resume="latest")  # no warning: every rank has the checkpoint plugin
    return {"weights": weights(resumed), "resumed_at": resumed.state.global_step}


def fails_on_rank_one() -> None:
    """Rank 1 raises at its second step; rank 0 would otherwise train on."""
    trainer = make_trainer((FailAt(),), max_epochs=50)
    trainer.fit(DataLoader(dataset(32), batch_size=4))


def fsdp_fit(tmp: str) -> dict[str, Any]:
    """FSDP2 training, and a sharded checkpoint round trip."""
    from unitrain.distributed import load_sharded, save_sharded

    trainer = make_trainer(strategy="fsdp")
    trainer.fit(
        DataLoader(dataset(32), batch_size=8), eval_data=DataLoader(dataset(17), batch_size=4)
    )
    path = save_sharded(trainer.state, tmp)
    other = make_trainer(strategy="fsdp")
    other.make_optimizers()
    load_sharded(other.state, path)
    return {
        "weights": weights(trainer),
        "loaded": weights(other),
        "metrics": trainer.state.eval_metrics["val"],
        "step": other.state.global_step,
        "path": str(path),
    }


class Tally:
    """A stateful plugin that runs on rank 0 only (as a run store does)."""

    ranks = "main"

    def __init__(self) -> None:
        self.steps = 0

    def on_train_step_end(self, state: ut.State) -> None:
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.steps = saved["steps"]


def per_rank_resume(folder: str) -> dict[str, Any]:
    """Dropout with different random streams on each rank; the Checkpoint plugin saves
    (rank 0 writes) mid-epoch at step 2 and at the end of a fit cut by max_steps=3; both
    resumes end bit-identical to a straight run of 6 steps."""
    from unitrain.plugins.checkpoint import Checkpoint
    from unitrain.plugins.run_store import RunStore
    from unitrain.runs.checkpoint import load_checkpoint

    rank = dist.get_rank()

    def loader() -> DataLoader[Any]:
        return DataLoader(dataset(32), batch_size=4, shuffle=True)  # 4 batches per rank

    def trainer(plugins: tuple[object, ...], max_steps: int) -> ut.Trainer:
        made = make_trainer(plugins, dropout=0.5, max_steps=max_steps, max_epochs=3)
        torch.manual_seed(100 + rank)  # each rank its own dropout stream
        return made

    straight = trainer((), 6)
    straight.fit(loader())
    steps = os.path.join(folder, "steps")
    first = trainer(
        (
            RunStore(folder),
            Checkpoint(),
            Checkpoint(steps, every_n_steps=2, keep_last=None),
            Tally(),
        ),
        3,
    )
    first.fit(loader())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        latest = trainer(
            (RunStore(folder), Checkpoint(), Checkpoint(steps, keep_last=None), Tally()), 6
        )
        latest.fit(loader(), resume="latest")
    middle = trainer(
        (RunStore(folder), Checkpoint(), Checkpoint(steps, keep_last=None), Tally()), 6
    )
    middle.fit(loader(), resume=os.path.join(steps, "step-000000002"))
    out: dict[str, Any] = {
        "straight": weights(straight),
        "latest": weights(latest),
        "middle": weights(middle),
        "warnings": [str(w.message) for w in caught if issubclass(w.category, ut.UnitrainWarning)],
    }
    if rank == 0:
        saved = load_checkpoint(os.path.join(steps, "step-000000002"))["state"]
        orders = saved["rank_data_orders"]
        out["orders"] = len(orders)
        out["streams_differ"] = not torch.equal(
            orders[0]["now"]["rng"]["torch"], orders[1]["now"]["rng"]["torch"]
        )
    return out


def sigterm_checkpoint(folder: str) -> dict[str, Any]:
    """A SIGTERM on rank 1, with the Checkpoint plugin on every rank: agreed stop, one
    checkpoint written by rank 0, and Preempted (exit status 143) on every rank."""
    from unitrain.plugins.checkpoint import Checkpoint
    from unitrain.runs.checkpoint import list_checkpoints
    from unitrain.runs.signals import Preempted

    plugin = Checkpoint(folder, every_n_epochs=None, save_last=False)
    trainer = make_trainer((plugin, SigtermAt(1, 1)), max_epochs=3)
    status = None
    try:
        trainer.fit(DataLoader(dataset(32), batch_size=4))
    except Preempted as stopped:
        status = stopped.code
    dist.barrier()
    return {
        "status": status,
        "step": trainer.state.global_step,
        "saved": [p.name for p in list_checkpoints(folder)],
        "handler_restored": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
    }


def fsdp_resume(folder: str) -> dict[str, Any]:
    """FSDP2 with the Checkpoint plugin (every step): 2 steps, then resume="latest" to 4,
    against a straight 4-step run; dropout draws from each rank's own stream."""
    from unitrain.plugins.checkpoint import Checkpoint

    def trainer(steps: int, *plugins: object) -> ut.Trainer:
        made = make_trainer(plugins, dropout=0.3, strategy="fsdp", max_steps=steps, max_epochs=3)
        torch.manual_seed(100 + dist.get_rank())
        return made

    def loader() -> DataLoader[Any]:
        return DataLoader(dataset(32), batch_size=4, shuffle=True)

    straight = trainer(4)
    straight.fit(loader())
    first = trainer(2, Checkpoint(folder, every_n_steps=1, every_n_epochs=None))
    first.fit(loader())
    resumed = trainer(4, Checkpoint(folder, every_n_steps=1, every_n_epochs=None))
    resumed.fit(loader(), resume="latest")
    return {
        "straight": weights(straight),
        "first": weights(first),
        "resumed": weights(resumed),
        "step": resumed.state.global_step,
    }


class KillAt:
    """Kills its own process with a signal at one micro-step (registered on one rank)."""

    def __init__(self, ranks: object, micro_step: int, signum: int = signal.SIGKILL) -> None:
        self.ranks, self.micro_step, self.signum = ranks, micro_step, signum

    def on_train_step_start(self, state: ut.State, batch: Any) -> None:
        if state.micro_step == self.micro_step:
            os.kill(os.getpid(), self.signum)


def killed_on_rank_one() -> None:
    """Rank 1 is SIGKILLed at its second step; rank 0's next collective fails."""
    trainer = make_trainer((KillAt(1, 1),), max_epochs=50)
    trainer.fit(DataLoader(dataset(32), batch_size=4))


class SleepAt:
    """Sleeps (far longer than any test) at one micro-step, after noting the time."""

    def __init__(self, ranks: object, micro_step: int, note: str) -> None:
        self.ranks, self.micro_step, self.note = ranks, micro_step, note

    def on_train_step_start(self, state: ut.State, batch: Any) -> None:
        if state.micro_step == self.micro_step:
            with open(self.note, "w") as file:
                file.write(repr(time.time()))
            time.sleep(600)


def sleeps_on_rank_one(note: str) -> None:
    """Rank 1 stops making progress at micro-step 2; hang_timeout=10."""
    trainer = make_trainer((SleepAt(1, 2, note),), max_epochs=50, hang_timeout=10)
    trainer.fit(DataLoader(dataset(32), batch_size=4))


def predict_gathered() -> dict[str, Any]:
    """predict on 2 ranks: each rank's own share, and gather=True (a DataLoader of 37 rows in
    batches of 5, a list of 7 batches, and dict outputs)."""
    trainer = make_trainer()
    loader = DataLoader(dataset(37, seed=3), batch_size=5)
    batches = [dataset(37, seed=3)[i : i + 6][0] for i in range(0, 37, 6)]
    fsdp = make_trainer(strategy="fsdp")
    return {
        "own": trainer.predict(loader),
        "gathered": trainer.predict(loader, gather=True),
        "listed": trainer.predict(batches, gather=True),
        "fsdp": fsdp.predict(loader, gather=True),
    }


class SaveMidWindow:
    """Asks for a checkpoint of every rank at the boundary between the micro-steps of a
    window (where the Checkpoint plugin saves)."""

    def __init__(self) -> None:
        self.trainer: ut.Trainer | None = None
        self.refused = ""
        self.open = False

    def on_after_backward(self, state: ut.State) -> None:
        self.open = not state.ends_window

    def on_train_step_start(self, state: ut.State) -> None:
        if self.open and not self.refused and self.trainer is not None:
            try:
                full_state_dict(self.trainer)
            except ut.UnitrainError as error:
                self.refused = str(error)


def fsdp_refusals() -> dict[str, Any]:
    """Under FSDP2: trainer.state_dict() on its own, and a checkpoint inside a window."""
    out = {}
    trainer = make_trainer(strategy="fsdp")
    trainer.make_optimizers()
    try:
        trainer.state_dict()  # on every rank here, but without gathering: refused on each
    except ut.UnitrainError as error:
        out["alone"] = str(error)
    mid = SaveMidWindow()
    windowed = make_trainer((mid,), strategy="fsdp", accumulation=2, max_epochs=1)
    mid.trainer = windowed
    windowed.fit(DataLoader(dataset(32), batch_size=4))
    out["mid_window"] = mid.refused
    out["accumulated"] = weights(windowed)
    return out
