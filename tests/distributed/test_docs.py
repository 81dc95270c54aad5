"""The examples of docs/distributed.md and the README's fifteen lines run as written: each
``python`` block of the page is a whole script, run in a fresh interpreter; the README's
snippet runs in one process and, with ``devices="cpu:2"``, in two."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def run(script: str, folder: Path) -> str:
    path = folder / "example.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run(
        [sys.executable, str(path)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # fresh interpreters import torch; spawned ranks too
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def doc_blocks() -> list[str]:
    return BLOCK.findall((ROOT / "docs" / "distributed.md").read_text())


def test_the_page_has_three_examples() -> None:
    assert len(doc_blocks()) == 3


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1, 2], ids=["devices", "launch", "fsdp"])
def test_each_example_of_the_distributed_page_runs_as_written(index: int, tmp_path: Path) -> None:
    out = run(doc_blocks()[index], tmp_path).strip().splitlines()
    if index == 0:
        assert out[-1].startswith("{'val': {'accuracy': ")  # rank 0's metrics, back here
    if index == 1:
        assert out[-1] == "[30.0, 30.0]"
    if index == 2:
        assert out[-1] == "4 Tensor"  # the full model, back in this process
        assert (tmp_path / "runs" / "fsdp" / "step-000000004" / "MANIFEST.json").exists()


PRELUDE = """
import json
import torch
from torch.utils.data import DataLoader, TensorDataset
from unitrain.datasets import load_digits

images, labels = load_digits()
train_loader = DataLoader(TensorDataset(images[:1257], labels[:1257]), batch_size=64, shuffle=True)
val_loader = DataLoader(TensorDataset(images[1257:1437], labels[1257:1437]), batch_size=256)
test_loader = DataLoader(TensorDataset(images[1437:], labels[1437:]), batch_size=256)

if __name__ == "__main__":
"""
RESULT = """
    print(json.dumps({"rows": sum(len(p) for p in predictions)}))
"""


def readme_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Fifteen lines") :]
    snippet: str = BLOCK.findall(section)[0]
    assert len(snippet.strip().splitlines()) == 15
    return snippet


@pytest.mark.slow
@pytest.mark.parametrize("devices", [None, "cpu:2"])
def test_the_readme_snippet_runs_in_one_process_and_on_two(
    devices: str | None, tmp_path: Path
) -> None:
    snippet = readme_snippet()
    if devices is not None:
        call = "ut.Trainer(task, max_epochs=10,"
        assert snippet.count(call) == 1
        snippet = snippet.replace(call, f"ut.Trainer(task, max_epochs=10, devices={devices!r},")
    script = PRELUDE + textwrap.indent(snippet, "    ") + RESULT
    lines = run(script, tmp_path).strip().splitlines()
    test = ast.literal_eval(lines[-2])  # the snippet's own print of evaluate()
    assert set(test) == {"loss", "accuracy"} and test["accuracy"] > 0.8  # it learnt
    assert json.loads(lines[-1])["rows"] == 360  # every test row predicted, in this process
    assert (tmp_path / "runs" / "m.jsonl").stat().st_size > 0


def test_the_progress_bar_survives_pickling_for_spawned_ranks() -> None:
    import pickle

    from unitrain.plugins import ProgressBar

    bar = pickle.loads(pickle.dumps(ProgressBar(plain=True, plain_every_seconds=5.0)))
    assert bar.plain is True and bar.interval == 5.0 and bar.console is not None
