"""The native bus inside a fit: timeline, cost when idle, handles, parity, DDP."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from torch import nn

import unitrain.bus as ub
from tests.bus.conftest import Recorder, make_trainer, tiny_batches, tiny_model
from unitrain.bus import MODULE_KINDS, NETWORK_KINDS, MessageBus, attach
from unitrain.errors import ConfigError, StateError

ALL = set(MODULE_KINDS | NETWORK_KINDS)


def hooks_on(model: nn.Module) -> int:
    count = 0
    for module in model.modules():
        count += len(module._forward_hooks) + len(module._forward_pre_hooks)
        count += len(module._backward_hooks)
    for parameter in model.parameters():
        count += len(parameter._post_accumulate_grad_hooks or {})
        count += len(parameter._backward_hooks or {})
    return count


def test_step_timeline_matches_the_documented_order(batches) -> None:
    trainer = make_trainer(max_epochs=2)
    recorder = Recorder(bus_kinds=ALL)
    attach(trainer, recorder)
    trainer.fit(batches)
    steps = [d for d in recorder.deliveries if "batch_started" in d.kinds()]
    assert [(d.global_step, d.train_step, d.epoch) for d in steps] == [
        (s, s % 4, s // 4) for s in range(8)
    ]
    kinds = [k for k, _ in itertools.groupby(m.kind for m in steps[0].all_messages())]
    assert kinds == [
        "epoch_started", "batch_started", "input_data", "input_labels", "network_output",
        "loss", "activations", "layer_gradients", "weight_gradients", "bias_gradients",
        "weights", "biases", "weight_updates", "bias_updates", "batch_finished",
    ]  # fmt: skip
    assert "epoch_started" not in steps[1].kinds()
    # every module bundle of a step is complete (Linear: 8 kinds, ReLU: 2 output kinds)
    linear = steps[0].bundle("0")
    assert linear is not None and set(linear.data) == MODULE_KINDS
    relu = steps[0].bundle("1")
    assert relu is not None and set(relu.data) == {"activations", "layer_gradients"}
    # epoch_finished arrives in its own delivery at each epoch end, no user call needed
    ends = [d for d in recorder.deliveries if "epoch_finished" in d.kinds()]
    assert [(d.epoch, d.global_step) for d in ends] == [(0, 3), (1, 7)]
    assert recorder.deliveries.index(ends[0]) == 4  # right after the epoch's last step


def test_batch_finished_is_delivered_in_its_own_step_before_the_next_starts(batches) -> None:
    trainer = make_trainer()
    order: list[tuple[str, int]] = []

    class Watch:
        bus_kinds = frozenset({"batch_finished"})

        def on_train_step_start(self, state, batch) -> None:
            order.append(("start", state.batch_idx))

        def on_bus_bundles(self, state, bundles) -> None:
            for message in bundles.messages("batch_finished"):
                order.append(("finished", message.train_step))

    attach(trainer, Watch())
    trainer.fit(batches)
    assert order == [(e, i) for i in range(4) for e in ("start", "finished")]


def test_nothing_is_installed_or_delivered_when_nobody_listens(batches) -> None:
    trainer = make_trainer()
    bus = attach(trainer)
    seen: list[int] = []

    class Probe:
        def on_train_step_end(self, state, batch, result) -> None:
            seen.append(hooks_on(state.model))

    trainer.add_plugin(Probe())
    trainer.fit(batches)
    assert seen == [0, 0, 0, 0] and bus.taps is None and bus.handle_count == 0


def test_only_subscribed_kinds_install_hooks(batches) -> None:
    trainer = make_trainer()
    counts: list[int] = []

    class Probe:
        bus_kinds = frozenset({"weight_gradients"})

        def on_bus_bundles(self, state, bundles) -> None:
            counts.append(hooks_on(state.model))

    attach(trainer, Probe())
    trainer.fit(batches)
    assert set(counts) == {2}  # one post-accumulate-grad hook per Linear weight, nothing else
    model = trainer.state.model
    assert model is not None and hooks_on(model) == 0


def test_handles_removed_after_success_and_after_an_exception(batches) -> None:
    trainer = make_trainer()
    attach(trainer, Recorder(bus_kinds=ALL))
    trainer.fit(batches)
    assert trainer.state.model is not None and hooks_on(trainer.state.model) == 0

    failing = make_trainer()
    attach(failing, Recorder(bus_kinds=ALL))

    class Boom:
        def on_after_backward(self, state, result) -> None:
            if state.micro_step == 2:
                raise RuntimeError("boom")

    failing.add_plugin(Boom())
    with pytest.raises(RuntimeError, match="boom"):
        failing.fit(batches)
    assert failing.state.model is not None and hooks_on(failing.state.model) == 0


class Grab:
    def __init__(self) -> None:
        self.grads: list[torch.Tensor] = []

    def on_after_backward(self, state, result) -> None:
        self.grads.extend(p.grad.clone() for p in state.model.parameters())


def test_gradients_and_weights_are_bit_identical_with_and_without_the_bus() -> None:
    results = []
    for with_bus in (False, True):
        trainer = make_trainer(tiny_model(inplace=True), max_epochs=2)
        if with_bus:
            attach(trainer, ub.NormSubscriber("activations"), Recorder(bus_kinds=ALL))
        grab = Grab()
        trainer.add_plugin(grab)
        trainer.fit(tiny_batches())
        assert trainer.state.model is not None
        results.append((grab.grads, [p.detach().clone() for p in trainer.state.model.parameters()]))
    (grads_a, weights_a), (grads_b, weights_b) = results
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(weights_a, weights_b, strict=True))


def test_eval_passes_run_without_recording(batches) -> None:
    trainer = make_trainer(eval_every_steps=2)
    recorder = Recorder(bus_kinds={"activations"})
    attach(trainer, recorder)
    trainer.fit(batches, eval_data=batches)
    assert len([d for d in recorder.deliveries if d.kinds()]) == 4
    assert all(len(d.messages("activations")) == 3 for d in recorder.deliveries)
    assert "val" in trainer.state.eval_metrics


def test_updates_appear_only_on_steps_that_stepped_the_optimizer() -> None:
    trainer = make_trainer(accumulation=2)
    recorder = Recorder(bus_kinds={"weight_updates"})
    attach(trainer, recorder)
    trainer.fit(tiny_batches(n=36))  # 3 batches: windows of 2 and 1
    with_updates = [d.global_step for d in recorder.deliveries if d.messages("weight_updates")]
    assert with_updates == [1, 2]


def test_configuration_errors_are_clear(batches) -> None:
    trainer = make_trainer(plugins=[MessageBus(), Recorder()])
    with pytest.raises(StateError, match="attach"):
        trainer.fit(batches)
    trainer = make_trainer()
    attach(trainer, ub.MessageMeanSubscriber("activations_norm2"))
    with pytest.raises(ConfigError, match="activations_norm2"):
        trainer.fit(batches)
    trainer = make_trainer()
    attach(trainer, Recorder(bus_kinds={"activations"}), module_filter=[nn.Conv2d])
    with pytest.raises(ConfigError, match="no module"):
        trainer.fit(batches)


def test_ddp_wrapped_model_in_a_single_process_group(tmp_path: Path, batches) -> None:
    import torch.distributed as dist

    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        model = nn.parallel.DistributedDataParallel(tiny_model())
        trainer = make_trainer(model)
        recorder = Recorder(bus_kinds={"activations", "weight_gradients"})
        grads: list[torch.Tensor] = []

        class GrabFirstWeight:
            def on_after_backward(self, state, result) -> None:
                grads.append(state.model.module[0].weight.grad.clone())

        attach(trainer, recorder)
        trainer.add_plugin(GrabFirstWeight())
        trainer.fit(batches)
        first = recorder.deliveries[0].bundle("0")
        assert first is not None and torch.equal(first.weight_gradients, grads[0])
        assert [m.module_name for m in recorder.deliveries[0].messages("activations")] == [
            "0",
            "1",
            "2",
        ]
        assert hooks_on(model.module) == 0
    finally:
        dist.destroy_process_group()


def test_last_short_window_of_an_unsized_loader_reports_its_update_in_its_own_step() -> None:
    from tests.conftest import Unsized

    trainer = make_trainer(accumulation=2)
    recorder = Recorder(bus_kinds={"weight_updates", "epoch_finished"})
    attach(trainer, recorder)
    trainer.fit(Unsized(tiny_batches(n=36)))  # length unknown: 3 batches, windows 2 and 1
    kinds = [(d.global_step, sorted(d.kinds())) for d in recorder.deliveries]
    assert kinds == [
        (0, []),
        (1, ["weight_updates"]),
        (2, ["weight_updates"]),
        (2, ["epoch_finished"]),
    ]


def test_a_failing_subscriber_is_named_in_the_error(batches) -> None:
    class Broken(ub.Subscriber):
        def __init__(self) -> None:
            super().__init__("weights")
            self._add_publication("weights_broken")

        def compute(self, message_or_bundle) -> None:
            raise ZeroDivisionError("bad statistic")

    trainer = make_trainer()
    # the consumer pulls the broken producer in: the note must name the producer
    attach(trainer, ub.NormSubscriber("weights_broken"), Broken())
    with pytest.raises(ZeroDivisionError) as caught:
        trainer.fit(batches)
    notes = "\n".join(caught.value.__notes__)
    assert "bus subscriber Broken(kinds=['weights'])" in notes and "bus step 0" in notes
    assert trainer.state.model is not None and hooks_on(trainer.state.model) == 0


def test_a_listener_registered_before_the_subscribers_sees_derived_topics(batches) -> None:
    trainer = make_trainer()
    early = Recorder(bus_kinds=set())
    trainer.add_plugin(early, order=-5)
    attach(trainer, ub.MessageMeanSubscriber("weights_norm2"), ub.NormSubscriber("weights"))
    trainer.fit(batches)
    assert all(
        {"weights_norm2", "weights_norm2_message_mean"} <= d.kinds() for d in early.deliveries
    )
