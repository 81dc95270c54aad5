"""Optional packages in tests: skipped when missing, unless CI says they must be there."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

REQUIRE: str = "UNITRAIN_REQUIRE_EXTRAS"


def require(module: str) -> ModuleType:
    """``pytest.importorskip(module)``; with ``UNITRAIN_REQUIRE_EXTRAS=1`` (``.ci/run``, which
    installs the extras) a missing package fails the test instead of skipping it."""
    if os.environ.get(REQUIRE):
        return importlib.import_module(module)
    return pytest.importorskip(module)
