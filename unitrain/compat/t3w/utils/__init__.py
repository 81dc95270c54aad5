"""t3w's utilities, at t3w's paths (``t3w.utils``).

Not carried over: ``CachedDataset`` (it pickles samples to disk and unpickles them, which
unitrain never does: files that could run code are not loaded), the typed ``ArgumentParser``
and ``torchsummaryX.summary`` (separate third-party code t3w vendored).
"""

from unitrain.compat.t3w.utils.dataset_samplers import HarderBatchSampler
from unitrain.compat.t3w.utils.misc import generate_run_hash, rm_r, work_directory
from unitrain.compat.t3w.utils.subcommand import cmd, main
from unitrain.compat.t3w.utils.verbose import millify

__all__ = [
    "HarderBatchSampler",
    "cmd",
    "generate_run_hash",
    "main",
    "millify",
    "rm_r",
    "work_directory",
]
