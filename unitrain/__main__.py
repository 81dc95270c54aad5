"""``python -m unitrain`` runs the command line (``torchrun -m unitrain fit run.toml``)."""

import sys

from unitrain.cli import main

sys.exit(main())
