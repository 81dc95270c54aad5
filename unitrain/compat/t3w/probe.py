"""``ProbeData``: t3w's stand-in model for looking at minibatches by hand."""

from __future__ import annotations

from typing import Any

from rich.pretty import pprint
from torch import nn

__all__ = ["ProbeData"]


class ProbeData(nn.Module):
    """Prints the minibatch it is given and, with ``breakpoint=True``, stops in the debugger,
    then ends the program (t3w's ``EvalLoop(model=None, breakpoint=True)`` probe).

    With ``breakpoint=False`` it only prints, and the pass goes on (t3w printed nothing then).
    """

    def __init__(self, breakpoint: bool = True) -> None:
        super().__init__()
        self.breakpoint = breakpoint

    def forward(self, data: Any) -> None:
        print(f"{type(data).__name__}:")
        pprint(vars(data) if hasattr(data, "__dict__") else data, max_depth=2, max_length=16)
        if self.breakpoint:
            breakpoint()  # the purpose of this module
            raise SystemExit(0)
