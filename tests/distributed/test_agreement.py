"""The SIGTERM flag: notes the signal, keeps earlier handlers running, restores them."""

from __future__ import annotations

import os
import signal
from types import FrameType

from unitrain.distributed.agreement import SigtermFlag


def test_sigterm_is_noted_the_earlier_handler_still_runs_and_comes_back() -> None:
    seen: list[int] = []

    def earlier(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    original = signal.signal(signal.SIGTERM, earlier)
    try:
        flag = SigtermFlag()
        flag.install()
        os.kill(os.getpid(), signal.SIGTERM)  # the process survives: the flag only notes it
        assert flag.received and seen == [signal.SIGTERM]
        flag.uninstall()
        assert signal.getsignal(signal.SIGTERM) is earlier
        flag.uninstall()  # twice is harmless
        assert signal.getsignal(signal.SIGTERM) is earlier
    finally:
        signal.signal(signal.SIGTERM, original)
