"""The README's main job, shortened: a real classifier on the shipped digits data."""

import importlib.util
import json
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits" / "train.py"


def load_example():
    spec = importlib.util.spec_from_file_location("digits_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_example_reaches_its_stated_accuracy(tmp_path):
    example = load_example()
    code = example.main(["--epochs", "12", "--out", str(tmp_path), "--plain"])
    result = json.loads((tmp_path / "result.json").read_text())
    assert code == 0
    assert result["accuracy"] >= 0.95
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r["split"] == "val" and r["name"] == "accuracy"]
    assert len(val) == 12 and val[-1]["value"] > val[0]["value"]
