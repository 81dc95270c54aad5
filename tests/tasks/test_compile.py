"""``Task(compile=...)``: the option's checks, the module it leaves, and real compiled training.

The end-to-end tests compile with inductor on CPU (gcc), which takes seconds per graph on a
busy machine: they are marked ``slow`` and share one compiled fit where they can. Each
module-level fixture starts from ``torch._dynamo.reset()``, so which tests ran before
(and which shapes TorchDynamo saw) cannot change what is compiled.

Exactness: a fit with ``compile=True`` equals, bit for bit, the hand-written loop running
the same compiled forward. Against the *eager* loop it is close, not equal: inductor
computes a bias gradient (a sum over the batch, fused with the ReLU backward) in its own
loop, whose float additions come in another order than ATen's sum (measured on this MLP:
forward and weight gradients equal, the first bias gradient off by 1.2e-7 in one step,
weights off by 1.5e-8 after 12 SGD steps). So that comparison uses ``atol=1e-6``, two
orders above the drift and far below any real training difference.
"""

from __future__ import annotations

import copy
import pickle
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import unitrain as ut
from unitrain.errors import ConfigError
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore
from unitrain.runs.checkpoint import list_checkpoints
from unitrain.tasks.compiling import CompiledForward, compiled_how, run_compiled
from unitrain.testing.tiny import tiny_batches

EPOCHS = 3


def mlp(seed: int = 0, dropout: float = 0.0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(4, 8), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(8, 2))


def sgd(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.1)


def make_task(model: nn.Module, compile: Any = True) -> ut.Task:
    return ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=sgd, compile=compile)


def raw_loop(model: nn.Module, epochs: int = EPOCHS) -> nn.Module:
    optimizer = sgd(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        for inputs, targets in tiny_batches():
            loss_fn(model(inputs), targets).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return model


# ---------------------------------------------------------------- the option (no compiling)


@pytest.mark.parametrize("value", ["yes", 1, 0.5, ["mode"], "max-autotune"])
def test_a_value_that_is_not_a_bool_or_a_mapping_is_refused(value: Any) -> None:
    model = mlp()
    with pytest.raises(ConfigError) as error:
        make_task(model, compile=value)
    message = str(error.value)
    assert "Task(compile=...)" in message and repr(value) in message
    assert "expected True, False or a dict of torch.compile keyword arguments" in message
    assert "forward" not in vars(model)  # the user's module is left as it was


def test_an_unknown_torch_compile_option_is_named_with_the_ones_that_exist() -> None:
    with pytest.raises(ConfigError, match=r"unknown torch.compile option\(s\) \['mdoe'\]"):
        make_task(mlp(), compile={"mdoe": "max-autotune"})
    with pytest.raises(ConfigError, match=r"it takes fullgraph, dynamic, backend, mode"):
        make_task(mlp(), compile={"mdoe": "max-autotune"})


def test_a_value_torch_compile_refuses_is_a_config_error_at_construction() -> None:
    model = mlp()
    with pytest.raises(ConfigError, match=r"torch.compile refused it: RuntimeError: .*bogus"):
        make_task(model, compile={"mode": "bogus"})
    with pytest.raises(ConfigError, match=r"Invalid backend"):
        make_task(model, compile={"backend": "no-such-backend"})
    assert "forward" not in vars(model)


def test_the_users_options_mapping_is_not_changed() -> None:
    options = {"backend": "inductor", "options": {"epilogue_fusion": True}}
    task = make_task(mlp(), compile=options)
    assert options == {"backend": "inductor", "options": {"epilogue_fusion": True}}
    assert task.compile_options == options


@pytest.mark.parametrize("value", [False, None])
def test_off_leaves_the_module_untouched(value: Any) -> None:
    model = mlp()
    task = make_task(model, compile=value)
    assert task.compile_options is None and "forward" not in vars(model)


def test_the_task_keeps_the_users_module_and_its_state_dict_keys() -> None:
    model = mlp()
    keys = list(model.state_dict())
    task = make_task(model, compile={"mode": "max-autotune-no-cudagraphs"})
    assert task.model is model
    assert isinstance(vars(model)["forward"], CompiledForward)
    assert list(task.model.state_dict()) == keys  # no "_orig_mod." anywhere
    assert task.compile_options == {"mode": "max-autotune-no-cudagraphs"}
    assert compiled_how(model) == "Task(compile=...)"
    # the model's own hooks run eagerly around the compiled forward; its modules' inside it
    assert set(run_compiled(model)) == set(model.modules()) - {model}


@pytest.mark.parametrize(
    ("compiled", "how"),
    [
        (lambda m: torch.compile(m), "torch.compile(module)"),
        (lambda m: (m.compile(), m)[1], "module.compile()"),
        (lambda m: (m[0].compile(), m)[1], "module.compile()"),
    ],
)
def test_an_already_compiled_model_is_refused(compiled: Any, how: str) -> None:
    model = compiled(mlp())
    with pytest.raises(ConfigError, match=rf"already compiled \({re.escape(how)}\)"):
        make_task(model, compile=True)


def test_a_model_compiled_by_the_user_still_trains_with_the_wrappers_keys() -> None:
    # what compile= avoids: torch.compile(model) is a wrapper with "_orig_mod." keys
    wrapped = torch.compile(mlp(), backend="eager")
    task = make_task(wrapped, compile=False)
    assert task.model is wrapped
    assert all(key.startswith("_orig_mod.") for key in task.model.state_dict())


def test_compiling_twice_is_refused() -> None:
    model = mlp()
    make_task(model)
    with pytest.raises(ConfigError, match=r"already compiled \(Task\(compile=\.\.\.\)\)"):
        make_task(model)


def test_pickle_and_deepcopy_carry_the_options_and_compile_the_copy() -> None:
    # spawned ranks receive the task pickled: the compiled code cannot travel, the option can
    model = mlp()
    task = make_task(model, compile={"backend": "eager"})
    for copied in (pickle.loads(pickle.dumps(task)), copy.deepcopy(task)):
        forward = vars(copied.model)["forward"]
        assert isinstance(forward, CompiledForward)
        assert forward.module is copied.model and copied.model is not model
        assert forward.options == {"backend": "eager"}
        x = torch.randn(3, 4)
        assert torch.equal(copied.model(x), model(x))


def test_an_instance_forward_is_what_gets_compiled() -> None:
    model = mlp()
    calls: list[int] = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return model[2](model[1](model[0](x))) * 2

    model.forward = forward  # type: ignore[method-assign]
    make_task(model, compile={"backend": "eager"})
    x = torch.randn(2, 4)
    assert torch.equal(model(x), (model[2](model[1](model[0](x)))) * 2)
    assert calls  # ran (traced) through the user's function


# ---------------------------------------------------------------- real compiled training


@pytest.fixture(scope="module")
def compiled_fit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    torch._dynamo.reset()
    root = tmp_path_factory.mktemp("compiled")
    model = mlp()
    task = make_task(model)
    trainer = ut.Trainer(
        task,
        plugins=[Checkpoint(root, every_n_epochs=1)],
        max_epochs=EPOCHS,
        eval_every_epochs=None,
        device="cpu",
    )
    trainer.fit(tiny_batches())
    yield {"task": task, "trainer": trainer, "model": model, "root": root}
    torch._dynamo.reset()


@pytest.mark.slow
def test_compiled_fit_equals_the_hand_written_loop_with_the_same_compiled_forward(
    compiled_fit: dict[str, Any],
) -> None:
    model = compiled_fit["model"]
    from torch._dynamo.utils import counters

    assert counters["stats"]["unique_graphs"] >= 1  # inductor really compiled it
    reference = mlp()
    reference.forward = torch.compile(reference.forward)  # type: ignore[method-assign]
    raw_loop(reference)
    for (name, value), expected in zip(
        model.state_dict().items(), reference.state_dict().values(), strict=True
    ):
        assert torch.equal(value, expected), name
    # against eager: inductor sums one bias gradient in another order (module docstring)
    eager = raw_loop(mlp())
    assert not all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), eager.state_dict().values(), strict=True)
    ), "bit-equal to eager: the forward was not compiled, or inductor changed (update docs)"
    for value, expected in zip(
        model.state_dict().values(), eager.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_checkpoints_hold_the_uncompiled_modules_keys(compiled_fit: dict[str, Any]) -> None:
    task, trainer = compiled_fit["task"], compiled_fit["trainer"]
    assert task.model is compiled_fit["model"] is trainer.state.model
    saved = list_checkpoints(compiled_fit["root"])
    assert len(saved) == EPOCHS
    state = torch.load(saved[-1] / "state.pt", weights_only=True)
    assert list(state["model"]) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    plain = mlp(seed=5)
    plain.load_state_dict(state["model"])  # strict: the keys of an uncompiled module
    for value, expected in zip(
        plain.state_dict().values(), task.model.state_dict().values(), strict=True
    ):
        assert torch.equal(value, expected)


class Crash(Exception):
    pass


class CrashAt:
    name = "crash"

    def __init__(self, micro_step: int) -> None:
        self.micro_step = micro_step

    def on_train_step_start(self, state: ut.State) -> None:
        if state.micro_step == self.micro_step:
            raise Crash(f"injected crash before micro step {self.micro_step}")


def _resume_trainer(plugins: list[object], init_seed: int) -> ut.Trainer:
    # dropout inside the compiled graph: inductor draws its random numbers from torch's
    # generator, which the checkpoint holds, so the resumed run must match the straight one
    task = ut.Task(
        mlp(init_seed, dropout=0.25),
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda p: torch.optim.Adam(p, lr=0.05),
        compile=True,
    )
    torch.manual_seed(1234)
    return ut.Trainer(
        task, plugins=plugins, max_epochs=EPOCHS, eval_every_epochs=None, device="cpu"
    )


@pytest.mark.slow
def test_a_compiled_run_resumes_exactly(tmp_path: Path) -> None:
    torch._dynamo.reset()
    straight = _resume_trainer([], init_seed=0)
    straight.fit(tiny_batches())
    crashing = _resume_trainer(
        [RunStore(tmp_path), Checkpoint(every_n_steps=1), CrashAt(7)], init_seed=0
    )
    with pytest.raises(Crash):
        crashing.fit(tiny_batches())
    resumed = _resume_trainer([RunStore(tmp_path), Checkpoint(every_n_steps=1)], init_seed=99)
    torch.manual_seed(4321)
    random.seed(5)
    np.random.seed(5)
    resumed.fit(tiny_batches(), resume="latest")
    assert resumed.state.global_step == straight.state.global_step == EPOCHS * 4
    a, b = straight.state.model, resumed.state.model
    assert a is not None and b is not None
    for (name, value), other in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(value, other), name
    torch._dynamo.reset()
