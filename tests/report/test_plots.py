"""The figures: captions that add to the titles, module names on heatmaps, nothing clipped,
one colour per run."""

from __future__ import annotations

import io

import numpy as np
import pytest

from unitrain.report.colours import run_colour
from unitrain.report.plots import draw_comparison, draw_run, heatmap_rows
from unitrain.report.records import Metrics

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

LONG = "encoder.layers.11.self_attention.output_projection_with_a_really_long_name"


def pixels(png: bytes) -> np.ndarray:
    """The PNG as a height × width × 3 array of RGB bytes."""
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))


def count(image: np.ndarray, colour: str) -> int:
    """Pixels of exactly ``#rrggbb``."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return int((image == rgb).all(axis=2).sum())


def border(png: bytes) -> set[tuple[int, ...]]:
    """The colours of the outermost row and column of pixels on every side."""
    image = pixels(png)
    edge = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return {tuple(int(c) for c in pixel) for pixel in edge}


def layered(stat: str, layers: list[str], steps: int = 12) -> Metrics:
    metrics = Metrics()
    for step in range(steps):
        for depth, layer in enumerate(layers):
            metrics.add("bus", f"{stat}/{layer}", step, 10.0 ** -(depth + step / 10))
        metrics.add("train", "loss", step, 1 / (step + 1))
        metrics.add("val", "loss", step, 2 / (step + 1))
    return metrics


def test_heatmap_rows_name_the_module_class():
    modules = {"0": "Linear", "1": "ReLU", "fc1": "Linear"}
    assert heatmap_rows(["0", "2", "fc1.weight", "head"], modules) == [
        "0 (Linear)",
        "2",  # not in the record: the name alone
        "fc1.weight (Linear)",  # a parameter: its module's class
        "head",
    ]


def test_captions_explain_rather_than_repeat_the_titles():
    figures = draw_run(layered("weight_gradients_norm2", ["0", "2"]), {"0": "Linear"})
    assert {f.stem for f in figures} == {"loss", "heatmap-weight_gradients_norm2"}
    for figure in figures:
        assert figure.title and figure.caption
        assert figure.title.lower() not in figure.caption.lower()
        assert figure.caption.endswith(".")


def test_nothing_is_clipped_however_long_the_labels():
    stat = "weight_updates_weights_ratio_of_a_subscriber_with_a_long_topic_name"
    (heatmap,) = [f for f in draw_run(layered(stat, ["0", LONG])) if f.stem.startswith("heat")]
    width = pixels(heatmap.png).shape[1]
    assert width > 8 * 100  # grew beyond the 8-inch figure to hold the long row label
    # every label is inside the canvas: the margin all round is untouched background
    assert border(heatmap.png) == {(255, 255, 255)}


def test_a_comparison_draws_each_run_in_its_colour():
    first, second = layered("g", ["0"]), Metrics()
    for step in range(12):
        second.add("val", "loss", step, 3 / (step + 1))
    runs = [("a", run_colour(0), first), ("b", run_colour(1), second)]
    figures = {f.stem: f for f in draw_comparison(runs)}
    assert set(figures) == {"compare-loss-train", "compare-loss-val"}
    val = pixels(figures["compare-loss-val"].png)
    for colour in (run_colour(0), run_colour(1)):
        assert count(val, colour) > 50, colour  # the line and the legend's sample
    train = pixels(figures["compare-loss-train"].png)
    assert count(train, run_colour(0)) > 50
    assert count(train, run_colour(1)) == 0  # run b has no training loss: not drawn


def test_each_split_of_one_run_has_its_own_colour():
    metrics = Metrics()
    for step in range(40):  # > 20 training values: drawn raw and smoothed
        metrics.add("test", "loss", step, 3 / (step + 1))
        metrics.add("train", "loss", step, 2 / (step + 1))
    (figure,) = draw_run(metrics)
    image = pixels(figure.png)
    # test is drawn in C0, train (raw faint, smoothed solid) in C1: train never borrows C0
    assert count(image, run_colour(0)) > 50 and count(image, run_colour(1)) > 50
