"""docs/plugins.md is generated from the hook spec and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from unitrain.hooks.specs import Hooks

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "generate.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("docs_generate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_hook_is_documented_with_its_docstring():
    generator = load_generator()
    text = generator.generate()
    hooks = [name for name in dir(Hooks) if not name.startswith("_")]
    documented = [name for _, names in generator.sections() for name in names]
    assert sorted(documented) == sorted(hooks)
    for name in hooks:
        assert f"### `{name}`" in text
    assert "first non-None result wins" in text and "Fires once per `fit`" in text


def test_committed_plugins_md_is_current():
    assert load_generator().main(["--check"]) == 0, "run: python docs/generate.py"
