"""Best values: the monitored direction wins, others are guessed from the name, epochs kept."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from unitrain.report.best import best_values, guess_mode
from unitrain.report.records import Metrics


def metrics_of(rows: list[tuple[str, str, int, int, float]]) -> Metrics:
    metrics = Metrics()
    for split, name, epoch, step, value in rows:
        metrics.add(split, name, step, value, epoch)
    return metrics


ROWS = [
    ("train", "loss", 0, 1, 0.1),  # training values never count
    ("val", "loss", 0, 5, 0.9),
    ("val", "accuracy", 0, 5, 0.5),
    ("val", "loss", 1, 10, 0.4),
    ("val", "accuracy", 1, 10, 0.8),
    ("val", "loss", 2, 15, 0.6),
    ("val", "accuracy", 2, 15, 0.7),
    ("val", "lr", 2, 15, 0.1),  # a learning rate is not a metric
]


def test_monitored_metrics_come_first_in_their_plugins_direction():
    info = {
        "monitors": [
            {"plugin": "run_store", "metric": "val/accuracy", "mode": "min"},  # odd but said
            {"plugin": "early_stopping", "metric": "val/accuracy", "mode": "min"},
        ]
    }
    table = best_values(metrics_of(ROWS), info)
    assert [b.metric for b in table] == ["val/accuracy", "val/loss"]
    first, second = table
    assert (first.mode, first.value, first.epoch, first.step) == ("min", 0.5, 0, 5)
    assert first.why == "monitored by run_store, early_stopping" and first.final == 0.7
    assert (second.mode, second.value, second.epoch, second.step) == ("min", 0.4, 1, 10)
    assert second.why == "guessed from the name"


def test_an_older_run_json_with_only_best_still_names_its_monitor():
    table = best_values(metrics_of(ROWS), {"best": {"name": "val/accuracy", "mode": "max"}})
    assert table[0].metric == "val/accuracy" and table[0].why == "monitored by run_store"
    assert (table[0].value, table[0].epoch) == (0.8, 1)


def test_a_monitored_metric_never_recorded_is_left_out():
    info = {"monitors": [{"plugin": "x", "metric": "test/f1", "mode": "max"}]}
    assert [b.metric for b in best_values(metrics_of(ROWS), info)] == ["val/accuracy", "val/loss"]


def test_guessed_directions():
    assert [guess_mode(n) for n in ("loss", "val_loss", "top1-error", "mse", "f1", "acc")] == [
        "min",
        "min",
        "min",
        "min",
        "max",
        "max",
    ]


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30), st.sampled_from(["min", "max"]))
def test_the_best_is_the_first_extreme(values, mode):
    metrics = metrics_of([("val", "score", i // 3, i, v) for i, v in enumerate(values)])
    info = {"monitors": [{"plugin": "p", "metric": "val/score", "mode": mode}]}
    (best,) = best_values(metrics, info)
    extreme = min(values) if mode == "min" else max(values)
    assert best.value == extreme and best.step == values.index(extreme)
    assert best.epoch == best.step // 3 and best.final == values[-1]
