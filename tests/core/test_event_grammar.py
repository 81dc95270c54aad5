"""Properties (Hypothesis): the event grammar holds for any run length, accumulation and stop
point, and for loaders with a right, a wrong or no ``len()``; any set of plugins is called in
the one order, for events and for stages."""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import unitrain as ut
from tests.conftest import Recorder, Unsized, make_batches, make_task


class WrongLength(Unsized):
    """Batches whose ``len()`` is wrong: it says ``claimed``, whatever they hold."""

    def __init__(self, batches: list[Any], claimed: int) -> None:
        super().__init__(batches)
        self.claimed = claimed

    def __len__(self) -> int:
        return self.claimed


def make_loader(data: list[Any], kind: str, error: int) -> object:
    """``data`` with a right len() ("len"), none ("no-len"), or one ``error`` off."""
    if kind == "len":
        return data
    if kind == "no-len":
        return Unsized(data)
    return WrongLength(data, max(0, len(data) + error))


class GrammarRecorder(Recorder):
    """A Recorder that also hears the end of the epoch's batches."""

    def on_train_batches_end(self, state: ut.State, exhausted: bool) -> None:
        self._add("train_batches_end", state)


TOKENS = {
    "fit_start": "F",
    "fit_end": "f",
    "epoch_start": "E",
    "epoch_end": "e",
    "train_step_start": "S",
    "after_backward": "B",
    "before_optimizer_step": "O",
    "after_optimizer_step": "o",
    "train_step_end": "s",
    "eval_start": "V",
    "eval_step_start": "W",
    "eval_step_end": "w",
    "eval_end": "v",
    "train_batches_end": "b",
}
EVAL = r"(?:V(?:Ww)*v)"
STEP = r"(?:SB(?:Oo)?s)"  # the optimizer step, when the window ends, is inside the step
GRAMMAR = re.compile(rf"F(?:E(?:{STEP}{EVAL}*)*b{EVAL}?e)*f")
STOP_EVENTS = [
    "fit_start",
    "epoch_start",
    "train_step_start",
    "train_step_end",
    "eval_end:val",
    "epoch_end",
]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def expected_counts(
    n: int, epochs: int | None, max_steps: int | None, k: int
) -> tuple[int, int, int]:
    """(epochs, optimizer steps, micro-steps) of a run without stop requests."""
    epoch = steps = micro = 0
    while (epochs is None or epoch < epochs) and (max_steps is None or steps < max_steps):
        for index in range(n):
            micro += 1
            if (index + 1) % k == 0 or index == n - 1:
                steps += 1
                if steps == max_steps:
                    break
        epoch += 1
    return epoch, steps, micro


@given(
    batches=st.integers(1, 5),
    limit=st.none() | st.integers(1, 4),
    epochs=st.none() | st.integers(1, 3),
    max_steps=st.none() | st.integers(1, 8),
    k=st.integers(1, 3),
    every_epochs=st.none() | st.integers(1, 2),
    every_steps=st.none() | st.integers(1, 3),
    loader=st.sampled_from(["len", "no-len", "wrong-len"]),
    error=st.sampled_from([-2, -1, 1, 2]),
    stop=st.none()
    | st.tuples(
        st.sampled_from(STOP_EVENTS), st.integers(1, 6), st.sampled_from(["now", "epoch_end"])
    ),
)
@SETTINGS
def test_event_grammar(
    batches: int,
    limit: int | None,
    epochs: int | None,
    max_steps: int | None,
    k: int,
    every_epochs: int | None,
    every_steps: int | None,
    loader: str,
    error: int,
    stop: tuple[str, int, str] | None,
) -> None:
    if epochs is None and max_steps is None:
        epochs = 2
    recorder = GrammarRecorder(stop_at=stop)
    data = make_batches(batches, size=2)
    trainer = ut.Trainer(
        make_task(),
        plugins=[recorder],
        max_epochs=epochs,
        max_steps=max_steps,
        accumulation=k,
        eval_every_epochs=every_epochs,
        eval_every_steps=every_steps,
        limit_train_batches=limit,
        device="cpu",
    )
    train = make_loader(data, loader, error)
    state = trainer.fit(train, eval_data=make_batches(1, size=2))
    word = "".join(TOKENS[event.split(":")[0]] for event in recorder.events)
    assert GRAMMAR.fullmatch(word), word

    per_epoch = batches if limit is None else min(batches, limit)
    assert all(e.count("S") <= per_epoch for e in re.findall(r"E([^e]*)e", word))
    # every step ends a window except inside one; each window has at most k micro-steps
    steps_seen = [s for s in recorder.snapshots if s[0] == "train_step_end"]
    assert [s[3] for s in steps_seen] == sorted(s[3] for s in steps_seen)
    assert state.global_step == word.count("o") and state.micro_step == word.count("B")
    for window in re.findall(r"(?:SBs)*SBOos", re.sub(r"[VWwvEe]", "", word)):
        assert window.count("S") <= k
    full = expected_counts(per_epoch, epochs, max_steps, k)
    if stop is None or (stop[0], stop[1]) not in _occurrences(recorder.events):
        assert (word.count("E"), state.global_step, state.micro_step) == full
        at_epochs = 0 if every_epochs is None else full[0] // every_epochs
        at_steps = 0 if every_steps is None else full[1] // every_steps
        assert word.count("V") == at_epochs + at_steps
    else:
        assert word.count("E") <= full[0] and state.global_step <= full[1]
        position = _occurrences(recorder.events)[(stop[0], stop[1])]
        rest = word[position + 1 :]
        assert "E" not in rest
        if stop[2] == "now":
            assert "S" not in rest and "V" not in rest
    # each evaluation was scheduled: after a step that ends at a multiple of N steps, or at
    # the end of every N-th epoch
    events = recorder.events
    for index, name in enumerate(events):
        if name == "eval_start:val":
            after = events[events.index("eval_end:val", index) + 1]
            step, epoch = recorder.snapshots[index][3], recorder.snapshots[index][1]
            at_step = every_steps is not None and step % every_steps == 0
            at_epoch = every_epochs is not None and (epoch + 1) % every_epochs == 0
            assert (at_step and events[index - 1] == "train_step_end") or (
                at_epoch and after == "epoch_end"
            )


def _occurrences(events: list[str]) -> dict[tuple[str, int], int]:
    seen: dict[str, int] = {}
    where: dict[tuple[str, int], int] = {}
    for index, name in enumerate(events):
        seen[name] = seen.get(name, 0) + 1
        where[(name, seen[name])] = index
    return where


# ---------------------------------------------------------------- the one order


@dataclass
class Spec:
    kind: str  # "plain", "tryfirst", "trylast", "wrapper", "wrapper-tryfirst", "defaults"
    order: int
    via_register: bool
    answers: bool


def build(label: int, spec: Spec, log: list[tuple[str, int]]) -> object:
    wrapper = spec.kind.startswith("wrapper")
    marks: dict[str, Any] = {
        "tryfirst": spec.kind.endswith("tryfirst"),
        "trylast": spec.kind == "trylast",
    }
    if wrapper:

        class Wrapper:
            @ut.hookimpl(wrapper=True, **marks)
            def on_epoch_start(self, state: ut.State) -> Generator[None, Any, Any]:
                log.append(("enter", label))
                try:
                    return (yield)
                finally:
                    log.append(("exit", label))

            @ut.hookimpl(wrapper=True, **marks)
            def run_forward(self, state: ut.State) -> Generator[None, Any, Any]:
                log.append(("enter", label))
                try:
                    return (yield)
                finally:
                    log.append(("exit", label))

        plugin: object = Wrapper()
    else:

        class Plain:
            unitrain_defaults = spec.kind == "defaults"

            @ut.hookimpl(**marks)
            def on_epoch_start(self, state: ut.State) -> None:
                log.append(("call", label))

            @ut.hookimpl(**marks)
            def run_forward(self, state: ut.State) -> Any:
                log.append(("call", label))
                return label if spec.answers else None

        plugin = Plain()
    if not spec.via_register:
        plugin.order = spec.order  # type: ignore[attr-defined]
    return plugin


def expected_order(specs: list[Spec], stage: bool) -> tuple[list[int], list[int]]:
    """(wrappers, plain implementations) in the documented call order."""
    bucket = {"tryfirst": 0, "wrapper-tryfirst": 0, "plain": 1, "wrapper": 1, "trylast": 2}

    def key(i: int) -> tuple[int, int, int]:
        kind = specs[i].kind
        return (3 if kind == "defaults" and stage else bucket.get(kind, 1), specs[i].order, i)

    indices = range(len(specs))
    wrappers = sorted((i for i in indices if specs[i].kind.startswith("wrapper")), key=key)
    plain = sorted((i for i in indices if not specs[i].kind.startswith("wrapper")), key=key)
    return wrappers, plain


SPECS = st.lists(
    st.builds(
        Spec,
        kind=st.sampled_from(
            ["plain", "plain", "tryfirst", "trylast", "wrapper", "wrapper-tryfirst", "defaults"]
        ),
        order=st.integers(-3, 3),
        via_register=st.booleans(),
        answers=st.booleans(),
    ),
    max_size=8,
)


@given(specs=SPECS)
@settings(max_examples=60, deadline=None)
def test_one_order_for_events_and_stages(specs: list[Spec]) -> None:
    log: list[tuple[str, int]] = []
    manager = ut.PluginManager()
    for label, spec in enumerate(specs):
        plugin = build(label, spec, log)
        order = spec.order if spec.via_register else None
        assert manager.register(plugin, name=f"p{label}", order=order) == f"p{label}"
    state = ut.State()

    wrappers, plain = expected_order(specs, stage=False)
    manager.hooks.on_epoch_start(state)
    enters = [("enter", i) for i in wrappers]
    exits = [("exit", i) for i in reversed(wrappers)]
    assert log == [*enters, *[("call", i) for i in plain], *exits]

    log.clear()
    wrappers, plain = expected_order(specs, stage=True)
    answer = manager.hooks.run_forward(state, None)
    responders = [i for i in plain if specs[i].answers]
    called = plain[: plain.index(responders[0]) + 1] if responders else plain
    assert answer == (responders[0] if responders else None)
    enters = [("enter", i) for i in wrappers]
    exits = [("exit", i) for i in reversed(wrappers)]
    assert log == [*enters, *[("call", i) for i in called], *exits]
    assert [r.name for r in manager] == [
        f"p{i}" for i in sorted(range(len(specs)), key=lambda i: (specs[i].order, i))
    ]
