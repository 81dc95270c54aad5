"""Headless Chromium for the report tests: the DOM after scripts ran, and a screenshot."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no {CHROMIUM} to render the report with (CI installs it: apt-get install chromium)",
)


def _run(page: Path, tmp: Path, *action: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        *action,
        page.as_uri(),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def dump_dom(page: Path, tmp: Path) -> str:
    """The page's DOM after its scripts ran; fails on any console message of the page."""
    done = _run(page, tmp, "--dump-dom")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    return done.stdout


def screenshot(page: Path, tmp: Path, width: int = 1200, height: int = 3000) -> np.ndarray:
    """The page drawn at ``width`` × ``height``: a height × width × 3 array of RGB bytes."""
    from PIL import Image

    shot = tmp / "screenshot.png"
    _run(page, tmp, f"--window-size={width},{height}", f"--screenshot={shot}")
    with Image.open(io.BytesIO(shot.read_bytes())) as image:
        assert image.size == (width, height)
        return np.asarray(image.convert("RGB"))


def distinct_colours(image: np.ndarray) -> int:
    """How many different RGB colours the image has (a blank page has one or two)."""
    return len(np.unique(image.reshape(-1, 3), axis=0))


def count(image: np.ndarray, colour: str) -> int:
    """Pixels of exactly ``#rrggbb``."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return int((image == rgb).all(axis=2).sum())
