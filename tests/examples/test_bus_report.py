"""The bus introspection example's run folder gives a report with per-layer heatmaps."""

import json
from pathlib import Path

from tests.example_scripts import load_example
from unitrain.report import read_metrics

HEATMAPS = ("activations_norm2", "weight_gradients_norm2", "weight_updates_weights_ratio")


def test_report_has_a_heatmap_per_layer_topic(tmp_path: Path) -> None:
    example = load_example("bus_introspection/introspect.py", "bus_report_example")
    for _ in range(2):  # a second run into the same folder replaces the first one's logs
        assert example.main(["--epochs", "2", "--out", str(tmp_path)]) == 0
    metrics = read_metrics(tmp_path / "metrics.jsonl")
    layers = metrics.layers["weight_gradients_norm2"]  # every step, read 10 at a time
    assert len(layers) == 4  # the four Linear layers
    assert all(series.steps == list(range(32)) for series in layers.values())  # once each
    assert "loss" in metrics.series and "train" in metrics.series["loss"]
    page = (tmp_path / "report" / "index.html").read_text()
    for topic in HEATMAPS:
        assert (tmp_path / "report" / f"heatmap-{topic}.png").read_bytes()[:4] == b"\x89PNG"
        assert f'id="heatmap-{topic}"' in page
    bus = (tmp_path / "bus.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(bus) == sum(record["split"] == "bus" for record in records)
