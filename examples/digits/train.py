"""Train a small classifier on the 8×8 handwritten digits that ship with unitrain.

    python examples/digits/train.py            # 30 epochs, ~0.98 test accuracy
    python examples/digits/train.py --epochs 5 --out /tmp/digits

The code lives in the package (``unitrain/examples/digits.py``), so ``unitrain demo`` runs
the same job from any installation; this file is the repository's entry to it and the
functions ``examples/digits/run.toml`` names.
"""

from __future__ import annotations

import sys

from unitrain.examples.digits import main, make_data, make_loaders, make_model, make_task

__all__ = ["main", "make_data", "make_loaders", "make_model", "make_task"]

if __name__ == "__main__":
    sys.exit(main())
