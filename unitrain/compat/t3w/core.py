"""``t3w.core`` at its unitrain path: the contract, metrics, loops, module and side-effect
interface, plus the names t3w's core module re-exported (``from t3w import *`` gave them
to client code: ``Sequence``, ``List``, ``Tensor``, ``nn``, ``Float``, ``Shaped``, ...).
"""

import gzip
import os
import random
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from functools import wraps
from glob import glob
from pathlib import Path
from typing import Any, Dict, List, Literal, NewType, Optional, Type, Union  # noqa: UP035

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from rich.pretty import pprint
from torch import FloatTensor, Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    Sampler,
    default_collate,
)

from unitrain.compat.t3w.contract import (
    IDataset,
    IDatum,
    IMiniBatch,
    Interface,
    StepReturnDict,
    manual_seed,
)
from unitrain.compat.t3w.loops import EvalLoop, TrainLoop
from unitrain.compat.t3w.media import IMediaProducer, MediaData, MediaManager, MediaType
from unitrain.compat.t3w.metrics import (
    AverageMetric,
    IDatasetMetric,
    ILoss,
    IMiniBatchMetric,
    LearningRate,
)
from unitrain.compat.t3w.module import TopLevelModule
from unitrain.compat.t3w.probe import ProbeData
from unitrain.compat.t3w.side_effect import ISideEffect
from unitrain.compat.t3w.typedefs import Bool, Float, FloatScalarTensor, MiniBatchFloats, Shaped

try:  # t3w required numpy; unitrain does not (``np`` is None without it)
    import numpy as np
except ImportError:  # pragma: no cover - numpy comes with most torch installs
    np = None  # type: ignore[assignment]

__all__ = [
    "ABC",
    "Any",
    "AverageMetric",
    "BatchSampler",
    "Bool",
    "Callable",
    "DataLoader",
    "Dict",
    "DistributedDataParallel",
    "DistributedSampler",
    "Enum",
    "EvalLoop",
    "Float",
    "FloatScalarTensor",
    "FloatTensor",
    "Hashable",
    "IDataset",
    "IDatasetMetric",
    "IDatum",
    "ILoss",
    "IMediaProducer",
    "IMiniBatch",
    "IMiniBatchMetric",
    "ISideEffect",
    "Interface",
    "LearningRate",
    "List",
    "Literal",
    "Mapping",
    "MediaData",
    "MediaManager",
    "MediaType",
    "MiniBatchFloats",
    "NewType",
    "Optimizer",
    "Optional",
    "Path",
    "ProbeData",
    "Sampler",
    "Sequence",
    "Shaped",
    "StepReturnDict",
    "Tensor",
    "TopLevelModule",
    "TrainLoop",
    "Type",
    "Union",
    "abstractmethod",
    "asdict",
    "dataclass",
    "default_collate",
    "dist",
    "glob",
    "gzip",
    "manual_seed",
    "mp",
    "nn",
    "np",
    "os",
    "pprint",
    "random",
    "sys",
    "torch",
    "wraps",
]
