"""Every engine test runs twice: with the inlined step of an unmodified task (what a fit
normally runs, see unitrain.tasks.fast_step) and with the generic step alone."""

from __future__ import annotations

import pytest

import unitrain.core.loop


@pytest.fixture(autouse=True, params=["fast-step", "generic-step"])
def step_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "generic-step":
        monkeypatch.setattr(unitrain.core.loop, "make_fast_step", lambda trainer, evals: None)
    path: str = request.param
    return path
