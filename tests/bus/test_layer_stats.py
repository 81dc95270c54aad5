"""``LayerStats``: all-layer statistics, batched on the device, read every N steps.

Checked on a real MLP and CNN inside fits: every value equals the per-tensor computation
on the same data bit for bit; reading every N steps gives the series of reading every
step; nothing is read to the host between reads; kinds absent from a step, a change of
the layers and a failing fit are handled; the records feed the report's heatmaps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings
from torch import nn

import unitrain as ut
import unitrain.bus as ub
from tests.bus.conftest import make_trainer, tiny_batches
from unitrain.bus.subscribers import layer_stats as layer_stats_module
from unitrain.errors import ConfigError
from unitrain.report.records import read_metrics

ALL_STATS = ("norm2", "norm1", "norminf", "mean", "sum", "max", "min", "std", "variance")

REFERENCE = {
    "norm2": lambda t: t.norm(2),
    "norm1": lambda t: t.norm(1),
    "norminf": lambda t: t.norm(float("inf")),
    "norm3": lambda t: t.norm(3),
    "mean": lambda t: t.mean(),
    "sum": lambda t: t.sum(),
    "max": lambda t: t.max(),
    "min": lambda t: t.min(),
    "std": lambda t: t.std(),
    "variance": lambda t: t.var(),
}


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 2))


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 2),
    )  # fmt: skip


def images(n: int = 24, size: int = 6) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(n, 1, 6, 6, generator=generator)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    return [(x[i : i + size], y[i : i + size]) for i in range(0, n, size)]


class Copy:
    """Keeps a copy of each raw kind of every step (the data is valid only during the call)."""

    def __init__(self, kinds: set[str]) -> None:
        self.bus_kinds = kinds
        self.steps: list[tuple[int, dict[tuple[str, str], torch.Tensor]]] = []

    def on_bus_bundles(self, state: Any, bundles: ub.StepBundles) -> None:
        step = {}
        for kind in self.bus_kinds:
            for m in bundles.messages(kind):
                step[(kind, str(m.module_name))] = m.data.detach().clone()
        if step:
            self.steps.append((bundles.global_step, step))


def fit(
    model: nn.Module, batches: list[Any], stats: ub.LayerStats, epochs: int = 2, **options: Any
) -> Copy:
    copy = Copy(set(stats.kinds))
    trainer = make_trainer(model, max_epochs=epochs, eval_every_epochs=None, **options)
    ub.attach(trainer, stats, copy)
    trainer.fit(batches)
    return copy


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "at-step-end"])
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_every_value_equals_the_per_tensor_computation(name: str, eager: bool) -> None:
    model, batches = (mlp(), tiny_batches()) if name == "mlp" else (cnn(), images())
    stats = ub.LayerStats(
        {
            "activations": ALL_STATS,
            "layer_gradients": ("norm2", "mean"),
            "weights": ("norm2", "norm3"),
            "weight_gradients": ("norm2", "norminf"),
            "weight_updates": ("norm2", "mean"),
            "biases": "sum",
            "bias_gradients": "norm2",
            "bias_updates": "max",
        },
        every=3,
        eager=eager,
    )
    copy = fit(model, batches, stats)
    assert [step for step, _ in copy.steps] == list(range(2 * len(batches)))
    checked = 0
    for kind, names in stats.stats.items():
        for statistic in names:
            series = stats.series(f"{kind}_{statistic}")
            modules = {module for (k, module) in copy.steps[0][1] if k == kind}
            assert set(series) == modules and modules
            for module, (steps, values) in series.items():
                assert steps == [step for step, _ in copy.steps]
                for (_, data), value in zip(copy.steps, values, strict=True):
                    expected = REFERENCE[statistic](data[(kind, module)].float())
                    assert value == expected.item(), (kind, statistic, module)  # bit for bit
                    checked += 1
    assert checked > 300


def test_a_view_of_another_layers_output_is_reduced_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # nn.Flatten returns a view of the ReLU's output: the same elements in the same order
    sizes: list[int] = []
    foreach_norm = torch._foreach_norm

    def counted(tensors: list[torch.Tensor], *args: Any) -> Any:
        sizes.append(len(tensors))
        return foreach_norm(tensors, *args)

    monkeypatch.setattr(torch, "_foreach_norm", counted)
    stats = ub.LayerStats({"activations": "norm2"}, every=2, eager=False)
    copy = fit(cnn(), images(), stats, epochs=1)
    # six layers, five distinct outputs; in the first step the taps copy every output (to
    # find modules that change their input in place), so nothing repeats there
    assert sizes == [6, 5, 5, 5]
    series = stats.series("activations_norm2")
    assert series["4"] == series["3"] and len(series) == 6
    for (_, data), value in zip(copy.steps, series["4"][1], strict=True):
        assert value == data[("activations", "4")].norm().item()


def test_an_eager_view_of_the_last_output_is_reduced_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # eager (CPU): nn.Flatten's output is a view of the ReLU's just reduced; its values are
    # reused, not computed again, for activations and for their gradients alike
    calls: list[int] = []
    norm = torch.linalg.vector_norm

    def counted(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        calls.append(tensor.numel())
        return norm(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, "vector_norm", counted)
    stats = ub.LayerStats({"activations": "norm2", "layer_gradients": "norm2"}, every=2)
    copy = fit(cnn(), images(), stats, epochs=1)
    steps = len(copy.steps)
    assert len(calls) == 2 * 5 * steps  # six layers, five distinct outputs, two kinds
    for kind in ("activations", "layer_gradients"):
        series = stats.series(f"{kind}_norm2")
        assert series["4"] == series["3"] and len(series) == 6
        for (_, data), value in zip(copy.steps, series["4"][1], strict=True):
            assert value == data[(kind, "4")].norm().item()


def test_an_eager_output_changed_in_place_is_reduced_again() -> None:
    # ReLU(inplace=True) returns the Linear's output tensor itself, changed: same memory,
    # a newer version, so its statistics are computed anew
    stats = ub.LayerStats({"activations": ("norm2", "min")}, every=2)
    copy = fit(inplace_mlp(), tiny_batches(), stats, epochs=1)
    for module in ("0", "1"):
        for name in ("norm2", "min"):
            values = stats.series(f"activations_{name}")[module][1]
            for (_, data), value in zip(copy.steps, values, strict=True):
                assert value == REFERENCE[name](data[("activations", module)]).item()
    assert (
        min(stats.series("activations_min")["1"][1])
        >= 0
        > min(stats.series("activations_min")["0"][1])
    )


def inplace_mlp() -> nn.Module:
    # ReLU(inplace=True) overwrites the first Linear's output after its forward hook ran
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(inplace=True), nn.Linear(8, 2))


def test_eager_outputs_are_reduced_before_an_in_place_change() -> None:
    # the raw outputs are published too (Copy): the taps copy outputs changed in place
    stats = ub.LayerStats({"activations": ("norm2", "min")}, every=2)
    copy = fit(inplace_mlp(), tiny_batches(), stats, epochs=1)
    values = stats.series("activations_min")["0"][1]
    assert min(values) < 0  # the Linear's output as it was, before the ReLU cleared it
    for (_, data), value in zip(copy.steps, values, strict=True):
        assert value == data[("activations", "0")].min().item()


def test_eager_outputs_are_not_kept_until_the_step_ends() -> None:
    taps: list[Any] = []

    class Peek:
        def on_train_step_end(self, state: Any, batch: Any, result: Any) -> None:
            taps.append(bus.taps)

    trainer = make_trainer(inplace_mlp(), max_epochs=1, eval_every_epochs=None, plugins=[Peek()])
    stats = ub.LayerStats({"activations": "norm2", "weights": "norm2"})
    bus = ub.attach(trainer, stats)
    trainer.fit(tiny_batches())
    # outputs are reduced in the forward hook and never held; the weights are handed over
    # whole at the step's end; neither is published as messages
    assert set(taps[0].reducers) == {"activations"} and set(taps[0].step_reducers) == {"weights"}
    assert taps[0].kinds == [] and set(taps[0]._slots) == {"weights"}
    assert len(stats.series("activations_norm2")) == 3


def test_updates_are_after_minus_before_bit_for_bit() -> None:
    model = mlp()
    stats = ub.LayerStats({"weight_updates": "norm2", "weights": "norm2"}, every=100)
    copy = fit(model, tiny_batches(), stats, epochs=1)
    for (_, previous), (_, current) in zip(copy.steps, copy.steps[1:], strict=False):
        for key, update in current.items():
            if key[0] == "weight_updates":
                weight = ("weights", key[1])
                assert torch.equal(update, current[weight] - previous[weight])


def test_reading_every_n_steps_gives_the_series_of_every_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def rows(every: int) -> list[ub.LogRow]:
        stats = ub.LayerStats(every=every)
        fit(cnn(), images(), stats, epochs=3)
        return stats.rows

    each_step = rows(1)
    assert len(each_step) == 3 * 4 * (6 + 3 + 3 + 3)  # steps x (activations + 3 param kinds)
    assert rows(5) == each_step
    assert rows(10**6) == each_step  # read once, when the fit ends
    monkeypatch.setattr(layer_stats_module, "_CHUNK", 2)  # several device buffers per read
    assert rows(7) == each_step


class SyncCounter:
    """Counts the calls that copy a tensor's values to the host."""

    NAMES = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, int] = dict.fromkeys(self.NAMES, 0)
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._counting(name, original))

    def _counting(self, name: str, original: Any) -> Any:
        def counted(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return original(tensor, *args, **kwargs)

        return counted

    def during(self, run: Any) -> dict[str, int]:
        before = dict(self.calls)
        run()
        return {name: self.calls[name] - before[name] for name in self.NAMES}


def test_no_host_read_between_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    batches = tiny_batches(n=96, size=12)  # 8 steps an epoch

    def run(stats: ub.LayerStats | None) -> None:
        trainer = make_trainer(mlp(), max_epochs=1, eval_every_epochs=None)
        if stats is not None:
            ub.attach(trainer, stats)
        trainer.fit(batches)

    counter = SyncCounter(monkeypatch)
    bare = counter.during(lambda: run(None))
    once = counter.during(lambda: run(ub.LayerStats(every=10**6)))
    every_four = counter.during(lambda: run(ub.LayerStats(every=4)))
    assert {name: once[name] - bare[name] for name in once} == {
        **dict.fromkeys(SyncCounter.NAMES, 0),
        "tolist": 1,  # the one read when the fit ends, for all 8 steps
    }
    assert every_four["tolist"] - bare["tolist"] == 2  # after steps 4 and 8; nothing left
    assert every_four["item"] == bare["item"]


def test_a_kind_absent_from_a_step_leaves_no_value() -> None:
    # accumulation over 2 batches: the weights move (and an update exists) every 2nd batch
    stats = ub.LayerStats({"weight_updates": "norm2", "weight_gradients": "norm2"}, every=3)
    copy = fit(mlp(), tiny_batches(), stats, epochs=1, accumulation=2)
    update_steps = [s for s, data in copy.steps if any(k == "weight_updates" for k, _ in data)]
    assert update_steps == [1, 3]
    steps, values = stats.series("weight_updates_norm2")["0"]
    assert steps == update_steps and all(v > 0 for v in values)
    assert stats.series("weight_gradients_norm2")["0"][0] == [0, 1, 2, 3]


class Branchy(nn.Module):
    """Calls its second layer only on odd steps: the set of layers changes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first, self.extra, self.last = nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 2)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        hidden = self.first(x)
        if self.calls % 2 == 0:
            hidden = self.extra(hidden)
        return self.last(hidden)


def test_a_change_of_layers_reads_and_restarts_the_buffer() -> None:
    stats = ub.LayerStats({"activations": "norm2"}, every=100)
    copy = fit(Branchy(), tiny_batches(), stats, epochs=1)
    series = stats.series("activations_norm2")
    assert series["first"][0] == [0, 1, 2, 3] and series["extra"][0] == [1, 3]
    for step, data in copy.steps:
        for (_, module), tensor in data.items():
            index = series[module][0].index(step)
            assert series[module][1][index] == tensor.norm().item()


def test_float64_models_keep_float64_values() -> None:
    model = mlp().double()
    batches = [(x.double(), y) for x, y in tiny_batches()]
    stats = ub.LayerStats({"weights": "norm2"}, every=2)
    copy = fit(model, batches, stats, epochs=1)
    _, values = stats.series("weights_norm2")["2"]
    assert values[-1] == copy.steps[-1][1][("weights", "2")].norm().item()


def test_records_feed_the_report_heatmaps_and_a_writer(tmp_path: Path) -> None:
    class Writer:
        def __init__(self) -> None:
            self.scalars: list[tuple[str, float, int]] = []

        def add_scalar(self, name: str, value: float, step: int) -> None:
            self.scalars.append((name, value, step))

    writer, path = Writer(), tmp_path / "run" / "metrics.jsonl"
    stats = ub.LayerStats(every=3, path=path, writer=writer)
    fit(mlp(), tiny_batches(), stats, epochs=1)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == len(stats.rows) == len(writer.scalars) == 4 * (5 + 3 + 3 + 3)
    first = records[0]
    assert first["split"] == "bus" and first["name"] == f"{first['topic']}/{first['module']}"
    layers = read_metrics(path).layers
    assert set(layers) == set(stats.topics) == {
        "activations_norm2", "weight_gradients_norm2", "weights_norm2", "weight_updates_norm2",
    }  # fmt: skip
    steps, values = stats.series("weights_norm2")["0"]
    assert layers["weights_norm2"]["0"].steps == steps
    assert layers["weights_norm2"]["0"].values == values
    assert stats._file is None  # closed at the end of the fit


def test_a_failing_fit_still_reads_what_was_computed() -> None:
    class Boom:
        def on_train_step_end(self, state: Any, batch: Any, result: Any) -> None:
            if state.batch_idx == 2:
                raise RuntimeError("boom")

    stats = ub.LayerStats({"weights": "norm2"}, every=100)
    trainer = make_trainer(mlp(), max_epochs=1, eval_every_epochs=None, plugins=[Boom()])
    ub.attach(trainer, stats)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(tiny_batches())
    # the step that failed was never delivered (the bus publishes last in the step's end)
    assert stats.series("weights_norm2")["0"][0] == [0, 1]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"stats": {"weights": "median"}}, r"LayerStats\('weights'\): unknown statistic 'median'"),
        ({"stats": {"weights": "norm0"}}, r"unknown statistic 'norm0'"),
        ({"stats": {"loss": "norm2"}}, r"'loss' is not a module kind"),
        ({"stats": {}}, r"non-empty mapping"),
        ({"stats": ["weights"]}, r"non-empty mapping"),
        ({"stats": {"weights": ()}}, r"no statistic given for 'weights'"),
        ({"every": 0}, r"every must be an int >= 1"),
    ],
)
def test_bad_options_are_refused_when_made(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ub.LayerStats(**options)


def test_non_tensor_data_is_refused_with_the_kind() -> None:
    stats = ub.LayerStats({"activations": "norm2"})
    bundles = ub.StepBundles(0, 0, 0)
    message = bundles.publish("activations", [1.0], "0")
    with pytest.raises(ConfigError, match=r"LayerStats\('activations'\): expected tensor"):
        stats.process_messages([message])


def test_a_real_run_through_the_public_api() -> None:
    task = ut.Task(
        mlp(), loss=nn.CrossEntropyLoss(), optimizer=lambda p: torch.optim.SGD(p, lr=0.1)
    )
    trainer = ut.Trainer(task, max_epochs=1, eval_every_epochs=None, device="cpu")
    stats = ub.LayerStats()
    ub.attach(trainer, stats)
    trainer.fit(tiny_batches())
    assert stats.stats == dict(ub.DEFAULT_LAYER_STATS)
    norms = stats.series("weight_gradients_norm2")
    assert sorted(norms) == ["0", "2", "4"] and all(len(v[1]) == 4 for v in norms.values())
    assert "LayerStats(stats=" in repr(stats)


def test_a_reducer_for_a_kind_that_is_not_a_module_output_is_refused() -> None:
    class Wrong(ub.Subscriber):
        def output_reducers(self, model: nn.Module) -> dict[str, Any]:
            return {"weights": lambda index, key, tensor: None}

    trainer = make_trainer(mlp(), max_epochs=1, eval_every_epochs=None)
    ub.attach(trainer, Wrong("weights"))
    with pytest.raises(ConfigError, match=r"output_reducers\(\) gave a function for 'weights'"):
        trainer.fit(tiny_batches())


def test_a_plain_subscriber_reduces_outputs_as_they_are_recorded() -> None:
    # the protocol is the Subscriber's, not LayerStats': any subscriber may use it
    class Peaks(ub.Subscriber):
        def __init__(self) -> None:
            super().__init__()
            self.peaks: list[tuple[int, str, float]] = []

        def output_reducers(self, model: nn.Module) -> dict[str, Any]:
            def reduce(index: int, key: ub.ModuleKey, tensor: torch.Tensor) -> None:
                self.peaks.append((index, key.name, float(tensor.abs().max())))

            return {"layer_gradients": reduce}

    peaks = Peaks()
    trainer = make_trainer(mlp(), max_epochs=1, eval_every_epochs=None)
    ub.attach(trainer, peaks)
    trainer.fit(tiny_batches())
    # backward reaches the last layer first: five outputs per step, four steps
    assert [index for index, _, _ in peaks.peaks[:5]] == [4, 3, 2, 1, 0]
    assert len(peaks.peaks) == 20 and all(peak > 0 for _, _, peak in peaks.peaks)


class ByMessages(ub.LayerStats):
    """``LayerStats`` reading every kind from messages, as on a bus that hands over none."""

    def step_reducers(self, model: nn.Module) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_handed_over_kinds_make_no_message_and_the_same_values(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, batches = (mlp, tiny_batches()) if name == "mlp" else (cnn, images())
    published: list[str] = []
    publish = ub.StepBundles.publish

    def counted(self: ub.StepBundles, kind: str, *args: Any, **kwargs: Any) -> Any:
        published.append(kind)
        return publish(self, kind, *args, **kwargs)

    monkeypatch.setattr(ub.StepBundles, "publish", counted)
    for eager in (True, False):
        stats = {**dict(ub.DEFAULT_LAYER_STATS), "biases": ("mean", "norm1")}
        handed, by_messages = ub.LayerStats(stats, eager=eager), ByMessages(stats, eager=eager)
        for subscriber in (handed, by_messages):
            trainer = make_trainer(model(), max_epochs=2, eval_every_epochs=None)
            ub.attach(trainer, subscriber)
            published.clear()
            trainer.fit(batches)
            if subscriber is handed:
                assert published == []
            else:  # every kind but the eager outputs came as messages
                assert set(published) == set(stats) - ({"activations"} if eager else set())
        assert handed.rows == by_messages.rows and len(handed.rows) > 100  # bit for bit


@settings(max_examples=12, deadline=None)
@given(
    wanted=st.dictionaries(
        st.sampled_from(sorted(ub.MODULE_KINDS)),
        st.lists(st.sampled_from(ALL_STATS), min_size=1, max_size=3, unique=True),
        min_size=1,
    ),
    eager=st.booleans(),
    accumulation=st.sampled_from([1, 3]),
)
def test_any_kinds_and_statistics_handed_over_equal_the_message_path(
    wanted: dict[str, list[str]], eager: bool, accumulation: int
) -> None:
    # accumulation=3 over 4 batches: updates are absent from some steps, and the epoch's
    # last window is short
    rows = []
    for stats in (ub.LayerStats(wanted, eager=eager), ByMessages(wanted, eager=eager)):
        trainer = make_trainer(mlp(), eval_every_epochs=None, accumulation=accumulation)
        ub.attach(trainer, stats)
        trainer.fit(tiny_batches())
        rows.append(stats.rows)
    assert rows[0] == rows[1] and rows[0]


def test_a_step_reducer_for_a_kind_that_is_not_a_module_kind_is_refused() -> None:
    class Wrong(ub.Subscriber):
        def step_reducers(self, model: nn.Module) -> dict[str, Any]:
            return {"loss": lambda keys, tensors: None}

    trainer = make_trainer(mlp(), max_epochs=1, eval_every_epochs=None)
    ub.attach(trainer, Wrong("weights"))
    with pytest.raises(ConfigError, match=r"step_reducers\(\) gave a function for 'loss'"):
        trainer.fit(tiny_batches())


def test_an_update_after_the_last_step_is_recorded_when_the_epoch_closes() -> None:
    # a plugin steps the optimizer once more after the epoch's last step, announcing it as
    # the engine does: its update reaches LayerStats in the epoch's closing delivery
    updates: list[torch.Tensor] = []

    class ExtraStep:
        def on_train_batches_end(self, state: Any, exhausted: bool) -> None:
            x, y = tiny_batches()[0]
            nn.functional.cross_entropy(state.model(x), y).backward()
            optimizer = state.optimizers[0]
            before = state.model[0].weight.detach().clone()
            trainer.hooks.on_before_optimizer_step(state, optimizer, 0)
            optimizer.step()
            optimizer.zero_grad()
            updates.append(state.model[0].weight.detach() - before)

    stats = ub.LayerStats({"weight_updates": "norm2"}, every=100)
    trainer = make_trainer(mlp(), max_epochs=2, eval_every_epochs=None, plugins=[ExtraStep()])
    ub.attach(trainer, stats)
    trainer.fit(tiny_batches())
    steps, values = stats.series("weight_updates_norm2")["0"]
    assert steps == [0, 1, 2, 3, 3, 4, 5, 6, 7, 7]  # the extra update: the epoch's last step
    assert [values[4], values[9]] == [u.norm().item() for u in updates]
