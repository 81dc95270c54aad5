"""Headless Chromium for the report tests: the DOM after scripts ran, and a screenshot."""

from __future__ import annotations

import io
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

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


def count_loads(page: Path, seconds: float, tmp: Path) -> int:
    """How many times the browser loaded ``page`` in ``seconds``: the page opened in a tab
    driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: the browser
    reads commands on fd 3 and answers on fd 4, NUL-separated JSON), counting the tab's
    ``Page.loadEventFired`` events. A page that reloads itself counts more than one."""
    profile = tmp / "chromium-cdp-profile"
    to_browser, from_browser = os.pipe(), os.pipe()

    def on_fds_3_and_4() -> None:  # in the child, before exec: dup first, so 3 and 4 are new
        read_end, write_end = os.dup(to_browser[0]), os.dup(from_browser[1])
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)

    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    command += [f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
    browser = subprocess.Popen(
        command,
        preexec_fn=on_fds_3_and_4,  # the fds must be in place before exec
        close_fds=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(to_browser[0])
    os.close(from_browser[1])
    protocol = _Protocol(to_browser[1], from_browser[0])
    try:
        target = protocol.call("Target.createTarget", url="about:blank")["targetId"]
        session = protocol.call("Target.attachToTarget", targetId=target, flatten=True)
        protocol.session = session["sessionId"]
        protocol.call("Page.enable")
        protocol.call("Page.navigate", url=page.as_uri())
        events = protocol.events(seconds)
        return sum(1 for e in events if e.get("method") == "Page.loadEventFired")
    finally:
        browser.kill()
        browser.wait()
        os.close(to_browser[1])
        os.close(from_browser[0])
        shutil.rmtree(profile, ignore_errors=True)


class _Protocol:
    """The DevTools protocol over a pipe pair: numbered calls, and the events between."""

    def __init__(self, out: int, into: int) -> None:
        self.out, self.into = out, into
        self.session: str | None = None
        self.pending = b""
        self.seen: list[dict[str, Any]] = []
        self.number = 0

    def call(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        self.number += 1
        message: dict[str, Any] = {"id": self.number, "method": method, "params": params}
        if self.session is not None and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self.out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for reply in self._read(0.1):
                if reply.get("id") == self.number:
                    assert "error" not in reply, reply
                    result: dict[str, Any] = reply.get("result", {})
                    return result
                self.seen.append(reply)
        raise AssertionError(f"the browser did not answer {method} within {timeout} s")

    def events(self, seconds: float) -> list[dict[str, Any]]:
        """Every message of this tab until ``seconds`` from now (and those seen so far)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.seen.extend(self._read(0.1))
        return [m for m in self.seen if m.get("sessionId") == self.session]

    def _read(self, wait: float) -> list[dict[str, Any]]:
        ready, _, _ = select.select([self.into], [], [], wait)
        if not ready:
            return []
        chunk = os.read(self.into, 1 << 16)
        assert chunk, "the browser closed its end of the pipe"
        self.pending += chunk
        *complete, self.pending = self.pending.split(b"\0")
        return [json.loads(m) for m in complete]
