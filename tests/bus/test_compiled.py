"""The bus on compiled models: parameter kinds work, module-output kinds are refused by name.

The fit test compiles with inductor on CPU (marked ``slow``: seconds of gcc on a busy
machine) and checks every parameter kind, step by step and bit for bit, against a
hand-written loop running the same compiled forward (which a compiled fit equals bit for
bit, tests/tasks/test_compile.py). The refusal tests use ``backend="eager"``: what they
check is where TorchDynamo's region starts, not what inductor makes of it.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import unitrain as ut
from tests.bus.conftest import tiny_batches, tiny_model
from unitrain.bus import attach
from unitrain.bus.bundles import StepBundles
from unitrain.bus.taps import Taps, select_modules
from unitrain.errors import ConfigError

PARAMETER_SIDE = (
    "weight_gradients",
    "bias_gradients",
    "weights",
    "biases",
    "weight_updates",
    "bias_updates",
)
ATTRIBUTE = {"weight": "weight", "bias": "bias"}


def compiled_task(model: nn.Module, compile: Any = True) -> ut.Task:
    return ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        compile=compile,
    )


class Copier:
    """Keeps a copy of every module message of every step: ``{(step, kind, module): data}``."""

    def __init__(self, kinds: set[str]) -> None:
        self.bus_kinds = frozenset(kinds)
        self.seen: dict[tuple[int, str, str], torch.Tensor] = {}

    def on_bus_bundles(self, state: Any, bundles: Any) -> None:
        for message in bundles.all_messages():
            if message.module_name is not None:
                key = (message.global_step, message.kind, message.module_name)
                self.seen[key] = message.data.detach().clone()


def expected_messages(epochs: int) -> dict[tuple[int, str, str], torch.Tensor]:
    """The same values from a hand-written loop over the same compiled forward."""
    torch._dynamo.reset()
    model = tiny_model()
    model.forward = torch.compile(model.forward)  # type: ignore[method-assign]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    found: dict[tuple[int, str, str], torch.Tensor] = {}
    step = 0
    for _ in range(epochs):
        for inputs, targets in tiny_batches():
            loss_fn(model(inputs), targets).backward()
            before = {n: p.detach().clone() for n, p in model.named_parameters()}
            grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}  # type: ignore[union-attr]
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            for name, param in model.named_parameters():
                module, attribute = name.split(".")
                plural = "weights" if attribute == "weight" else "biases"
                found[(step, f"{attribute}_gradients", module)] = grads[name]
                found[(step, plural, module)] = param.detach().clone()
                found[(step, f"{attribute}_updates", module)] = param.detach() - before[name]
            step += 1
    return found


@pytest.mark.slow
def test_parameter_kinds_of_a_compiled_fit_equal_the_hand_written_compiled_loop() -> None:
    expected = expected_messages(epochs=2)
    torch._dynamo.reset()
    model = tiny_model()
    trainer = ut.Trainer(compiled_task(model), max_epochs=2, eval_every_epochs=None, device="cpu")
    copier = Copier(set(PARAMETER_SIDE))
    attach(trainer, copier)
    trainer.fit(tiny_batches())
    from torch._dynamo.utils import counters

    assert counters["stats"]["unique_graphs"] >= 1  # the forward really was compiled
    assert set(copier.seen) == set(expected)  # every kind, every step, modules "0" and "2"
    for key, value in expected.items():
        assert torch.equal(copier.seen[key], value), key
    torch._dynamo.reset()


@pytest.mark.parametrize(
    "kinds",
    [{"activations"}, {"layer_gradients"}, {"activations", "layer_gradients", "weights"}],
)
def test_module_output_kinds_are_refused_before_the_first_step(kinds: set[str]) -> None:
    trainer = ut.Trainer(
        compiled_task(tiny_model(), {"backend": "eager"}), max_epochs=1, device="cpu"
    )
    attach(trainer, Copier(kinds))
    with pytest.raises(ConfigError) as error:
        trainer.fit(tiny_batches())
    message = str(error.value)
    refused = sorted(kinds & {"activations", "layer_gradients"})
    assert f"the bus cannot tap {refused} of a compiled model" in message
    assert "module(s) 0, 1, 2 run inside code compiled by Task(compile=...)" in message
    assert "traces into the compiled code" in message  # why
    assert "weight_gradients, bias_gradients, weights, biases, weight_updates" in message
    assert "train without compiling" in message  # what to do
    assert trainer.state.global_step == 0


def _taps_for(model: nn.Module, kinds: set[str]) -> Taps:
    return Taps(select_modules(model), kinds, model)


def test_only_modules_inside_a_compiled_region_are_refused() -> None:
    # the first Linear's forward compiled by hand: its own hooks still run eagerly around it,
    # so the bus may tap its output; a module compiled whole (module.compile()) may not
    model = tiny_model()
    model[0].forward = torch.compile(model[0].forward, backend="eager")  # type: ignore[method-assign]
    taps = _taps_for(model, {"activations", "layer_gradients"})
    taps.install()
    taps.recording = True
    x = torch.randn(5, 6)
    model(x).sum().backward()
    bundles = StepBundles(0, 0, 0)
    taps.collect(bundles)
    outputs = {m.module_name: m.data for m in bundles.messages("activations")}
    assert torch.equal(outputs["0"], model[0](x).detach())
    assert [m.module_name for m in bundles.messages("layer_gradients")] == ["0", "1", "2"]
    taps.remove()

    whole = tiny_model()
    whole[0].compile(backend="eager")
    with pytest.raises(ConfigError, match=r"module\(s\) 0 run inside code compiled by module"):
        _taps_for(whole, {"activations"})
    _taps_for(whole, {"weights", "weight_gradients"})  # parameter kinds: fine


def test_a_torch_compile_wrapper_is_refused_for_every_module_inside_it() -> None:
    wrapped = torch.compile(tiny_model(), backend="eager")
    with pytest.raises(ConfigError, match=r"0, 1, 2 run inside code compiled by torch\.compile"):
        _taps_for(wrapped, {"layer_gradients"})
