"""SIGTERM / SIGINT during a fit: finish the step, commit a checkpoint, exit 143 / 130.

:class:`SignalCatcher` is installed when a fit starts and restored when it ends (also after
an error). Its handler only records the signal, and calls the handler that was installed
before it (so a scheduler's or the user's own SIGTERM handler still runs); the training loop
acts on it at the next step boundary. A second SIGINT while the first is pending raises
``KeyboardInterrupt`` at once, for a user who does not want to wait. Handlers can only be
installed from the main thread; elsewhere the catcher stays inactive.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable
from types import FrameType
from typing import Any

__all__ = ["Preempted", "SignalCatcher"]


class Preempted(SystemExit):
    """Raised at a step boundary after a SIGTERM / SIGINT; exits with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}; exit status {128 + self.signum}"


class SignalCatcher:
    """Records SIGTERM / SIGINT (or ``signals``) while installed, chaining earlier handlers."""

    def __init__(self, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.signals = tuple(signals)
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def installed(self) -> bool:
        """True between :meth:`install` and :meth:`restore`."""
        return bool(self._previous)

    def install(self) -> bool:
        """Install the handlers; False (and nothing changed) outside the main thread."""
        if self._previous or threading.current_thread() is not threading.main_thread():
            return False
        self.received = None
        for signum in self.signals:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._handle)
        return True

    def restore(self) -> None:
        """Put back the handlers that were installed before :meth:`install`."""
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.received == signal.SIGINT:
            self.restore()
            raise KeyboardInterrupt  # second Ctrl-C: stop now, without the checkpoint
        self.received = signum
        previous = self._previous.get(signum)
        # Python's default SIGINT handler raises KeyboardInterrupt: that is what we defer.
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, frame)
