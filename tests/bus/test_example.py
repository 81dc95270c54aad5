"""The bus introspection example runs end to end on generated data."""

import json
from pathlib import Path

from tests.example_scripts import load_example


def test_bus_introspection_example(tmp_path: Path) -> None:
    module = load_example("bus_introspection/introspect.py", "bus_introspection_example")
    assert module.main(["--epochs", "2", "--out", str(tmp_path)]) == 0
    rows = [json.loads(line) for line in (tmp_path / "bus.jsonl").read_text().splitlines()]
    topics = {row["topic"] for row in rows}
    assert all(row["split"] == "bus" for row in rows)
    assert {
        "activations_norm2",
        "weights_spectral_norm",
        "test_accuracy",
        "train_accuracy",
    } <= topics
    accuracy = [row["value"] for row in rows if row["topic"] == "test_accuracy"]
    assert len(accuracy) == 1 and accuracy[0] > 0.6
    for topic in ("activations_norm2", "weight_gradients_norm2", "weight_updates_weights_ratio"):
        assert (tmp_path / f"{topic}.png").read_bytes()[:4] == b"\x89PNG"
