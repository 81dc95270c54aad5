"""Taps: module discovery, and data that matches what autograd and the optimizer did."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from unitrain.bus import MODULE_KINDS, StepBundles, Taps, select_modules
from unitrain.errors import ConfigError


def test_select_modules_by_depth_and_class() -> None:
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), nn.Linear(3, 1))
    assert [k for k, _ in select_modules(model)] == ["0.0", "0.1", "1"]
    assert [k for k, _ in select_modules(model, depth=1)] == ["0", "1"]
    assert [k for k, _ in select_modules(model, classes=[nn.Linear])] == ["0.0", "1"]
    wrapped = torch.nn.DataParallel(model)
    assert [k for k, _ in select_modules(wrapped)] == ["0.0", "0.1", "1"]
    with pytest.raises(ConfigError, match="depth"):
        select_modules(model, depth=0)
    with pytest.raises(ConfigError, match="module_filter"):
        select_modules(model, classes=[int])  # type: ignore[list-item]


def run_step(model: nn.Module, taps: Taps, x: torch.Tensor, step: int) -> StepBundles:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    taps.recording = True
    out = model(x)
    out.square().sum().backward()
    taps.snapshot()
    optimizer.step()
    taps.recording = False
    bundles = StepBundles(step, step, 0)
    taps.collect(bundles)
    return bundles


def test_in_place_relu_leaves_activations_and_layer_gradients_correct() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(inplace=True), nn.Linear(5, 1))
    taps = Taps(select_modules(model), MODULE_KINDS)
    taps.install()
    x = torch.randn(3, 4)
    for step in range(3):  # step 0 probes; later steps clone only the in-place victim
        expected_pre = model[0](x).detach()
        bundles = run_step(model, taps, x, step)
        first = bundles.bundle("0")
        assert first is not None
        assert torch.equal(first.activations, expected_pre)  # pre-ReLU, not overwritten
        relu = bundles.bundle("1")
        assert relu is not None and torch.equal(relu.activations, expected_pre.clamp(min=0))
    # the layer gradient of the first Linear is d sum(out^2) / d its (pre-ReLU) output
    z = model[0](x).detach().requires_grad_()
    model[2](torch.relu(z)).square().sum().backward()
    bundles = run_step(model, taps, x, 3)
    first = bundles.bundle("0")
    assert first is not None and torch.allclose(first.layer_gradients, z.grad)
    assert taps._clone == {0}
    taps.remove()


def test_gradients_and_updates_match_autograd_and_the_optimizer() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))
    taps = Taps(select_modules(model, classes=[nn.Linear]), MODULE_KINDS)
    taps.install()
    x = torch.randn(5, 4)
    before = [p.detach().clone() for p in model.parameters()]
    bundles = run_step(model, taps, x, 0)
    after = list(model.parameters())
    reference = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))
    with torch.no_grad():
        for p, b in zip(reference.parameters(), before, strict=True):
            p.copy_(b)
    ref_hidden = reference[0](x)
    ref_hidden.retain_grad()
    reference[2](reference[1](ref_hidden)).square().sum().backward()
    first = bundles.bundle("0")
    assert first is not None
    assert torch.equal(first.layer_gradients, ref_hidden.grad)
    assert torch.equal(first.weight_gradients, reference[0].weight.grad)
    assert torch.equal(first.bias_gradients, reference[0].bias.grad)
    assert torch.equal(first.weights, after[0].detach())
    assert torch.allclose(first.weight_updates, after[0].detach() - before[0])
    assert torch.allclose(first.bias_updates, after[1].detach() - before[1])
    taps.remove()
    assert not model[0]._forward_hooks and not model[0].weight._post_accumulate_grad_hooks


def test_shared_module_reports_its_first_call_and_summed_gradient() -> None:
    torch.manual_seed(0)
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    taps = Taps(select_modules(model), {"activations", "weight_gradients"})
    taps.install()
    x = torch.randn(2, 3)
    first_call = shared(x).detach()
    bundles = run_step(model, taps, x, 0)
    assert [m.module_name for m in bundles.messages("activations")] == ["0", "1"]
    assert torch.equal(bundles.messages("activations")[0].data, first_call)
    assert [m.module_name for m in bundles.messages("weight_gradients")] == ["0"]
    taps.remove()


def test_no_grad_forward_records_nothing_and_does_not_fail() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(inplace=True))
    taps = Taps(select_modules(model), {"activations", "layer_gradients"})
    taps.install()
    with torch.no_grad():
        model(torch.randn(1, 2))  # not recording
        taps.recording = True
        model(torch.randn(1, 2))  # recording, but no graph: no tensor hook
    bundles = StepBundles(0, 0, 0)
    taps.collect(bundles)
    assert bundles.kinds() == {"activations"}
    taps.remove()


def test_compiled_model_refuses_module_output_kinds_but_taps_parameters() -> None:
    model = nn.Sequential(nn.Linear(2, 2))
    compiled = torch.compile(model, backend="eager")
    with pytest.raises(ConfigError, match=r"torch\.compile"):
        Taps(select_modules(compiled), {"activations"}, compiled)
    taps = Taps(select_modules(compiled), {"weight_gradients", "weights"}, compiled)
    taps.install()
    taps.recording = True
    compiled(torch.randn(3, 2)).sum().backward()
    bundles = StepBundles(0, 0, 0)
    taps.collect(bundles)
    assert torch.equal(bundles.messages("weight_gradients")[0].data, model[0].weight.grad)
    taps.remove()


def test_update_buffers_are_reused_and_only_made_for_subscribed_updates() -> None:
    # ikkuna cloned every weight every step; here the pre-step copy becomes the update
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1))
    taps = Taps(select_modules(model), {"weight_updates"})
    taps.install()
    x = torch.randn(2, 4)
    first = run_step(model, taps, x, 0).messages("weight_updates")[0].data
    second = run_step(model, taps, x, 1).messages("weight_updates")[0].data
    assert second.data_ptr() == first.data_ptr()  # the same buffer, rewritten in place
    assert taps._buffers is not None and len(taps._buffers) == 2  # weights only, no biases
    assert not taps.handles  # updates need no torch hook at all
    only_grads = Taps(select_modules(model), {"weight_gradients"})
    only_grads.install()
    run_step(model, only_grads, x, 2)
    assert only_grads._buffers is None
    only_grads.remove()


def test_step_reducers_get_each_kind_whole_and_nothing_is_published() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    handed: dict[str, tuple[list[str], list[torch.Tensor]]] = {}

    def keep(kind: str) -> Any:
        def reduce(keys: list[Any], tensors: list[torch.Tensor]) -> None:
            handed[kind] = (list(keys), [t.clone() for t in tensors])  # valid during the call

        return reduce

    kinds = ("activations", "weight_gradients", "weights", "weight_updates")
    taps = Taps(select_modules(model), set(), step_reducers={k: [keep(k)] for k in kinds})
    taps.install()
    x = torch.randn(5, 4)
    hidden = model[0](x).detach()
    before = [layer.weight.detach().clone() for layer in (model[0], model[2])]
    bundles = run_step(model, taps, x, 0)
    assert len(bundles) == 0 and taps.kinds == []  # recorded, reduced, never published
    assert handed["activations"][0] == ["0", "1", "2"]  # every module has an output
    assert torch.equal(handed["activations"][1][0], hidden)
    assert torch.equal(handed["activations"][1][1], hidden.clamp(min=0))
    for kind in ("weight_gradients", "weights", "weight_updates"):
        assert handed[kind][0] == ["0", "2"]  # the ReLU has no weight: left out
    for i, layer in enumerate((model[0], model[2])):
        assert torch.equal(handed["weight_gradients"][1][i], layer.weight.grad)
        assert torch.equal(handed["weights"][1][i], layer.weight.detach())
        assert torch.equal(handed["weight_updates"][1][i], layer.weight.detach() - before[i])
    taps.remove()


def test_collect_calls_step_reducers_only_with_data_and_says_so() -> None:
    model = nn.Sequential(nn.Linear(2, 2))
    calls: list[str] = []
    taps = Taps(
        select_modules(model),
        set(),
        step_reducers={"weight_updates": [lambda keys, tensors: calls.append("updates")]},
    )
    taps.install()
    # an epoch's close (parameters=False) with no optimizer step since the last collect
    assert taps.collect(StepBundles(0, 0, 0), parameters=False) is False and calls == []
    taps.snapshot()
    with torch.no_grad():
        model[0].weight.add_(1.0)  # an optimizer step after the step's end
    assert taps.collect(StepBundles(0, 0, 0), parameters=False) is True
    assert calls == ["updates"]
    taps.remove()


def test_a_parametrized_layer_is_tapped_as_the_layer() -> None:
    # weight_norm makes `weight` a computed attribute (not in _parameters) and gives the layer
    # a `parametrizations` child: the layer is still the leaf that is tapped (its output, its
    # computed weight), never the functions computing its weight; the ReLU has no weight
    # and is not asked for one each step
    torch.manual_seed(0)
    linear = torch.nn.utils.parametrizations.weight_norm(nn.Linear(3, 2))
    model = nn.Sequential(linear, nn.ReLU(), nn.Sequential(nn.Linear(2, 2)))
    assert [key for key, _ in select_modules(model)] == ["0", "1", "2.0"]
    assert [key for key, _ in select_modules(model, depth=2)] == ["0", "1", "2.0"]
    taps = Taps(select_modules(model), {"weights", "activations"})
    taps.install()
    assert taps._holders == {"weights": [(0, linear), (2, model[2][0])]}
    for step in range(2):
        x = torch.randn(4, 3)
        output = linear(x).detach()
        bundles = run_step(model, taps, x, step)
        first = bundles.bundle("0")
        assert first is not None and torch.equal(first.activations, output)
        assert torch.equal(first.weights, linear.weight.detach())  # computed after the step
        assert [m.module_name for m in bundles.messages("weights")] == ["0", "2.0"]
    taps.remove()
