"""What each rank runs in tests/distributed/test_reliability.py (module level, for the ranks)."""

from __future__ import annotations

import warnings
from typing import Any

from torch.utils.data import DataLoader

from tests.distributed._scenarios import dataset, make_trainer


def fit_run(folder: str, max_epochs: int) -> dict[str, Any]:
    """RunStore + Checkpoint on two ranks: ``fit(resume="latest")`` into ``folder``."""
    from unitrain.plugins.checkpoint import Checkpoint
    from unitrain.plugins.run_store import RunStore

    warnings.simplefilter("ignore")
    plugins = (RunStore(folder, log_every_n_steps=1), Checkpoint(every_n_epochs=1))
    trainer = make_trainer(plugins, max_epochs=max_epochs)
    trainer.fit(DataLoader(dataset(32), batch_size=4), resume="latest")
    return {"step": trainer.state.global_step}
