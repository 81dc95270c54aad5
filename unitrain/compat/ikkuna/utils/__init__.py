"""``ikkuna.utils`` at its unitrain path.

``freeze_module`` really freezes (ikkuna's set an attribute on each module and changed
nothing); ``initialize_model`` initialises every layer (ikkuna's AlexNetMini branch did not).
"""

from unitrain.bus.subscribers.control import freeze_module
from unitrain.compat.ikkuna.utils.module_tree import ModuleTree
from unitrain.compat.ikkuna.utils.named_module import NamedModule
from unitrain.compat.ikkuna.utils.utils import (
    DatasetMeta,
    available_optimizers,
    create_optimizer,
    get_model,
    initialize_model,
    load_dataset,
    seed_everything,
)

__all__ = [
    "DatasetMeta",
    "ModuleTree",
    "NamedModule",
    "available_optimizers",
    "create_optimizer",
    "freeze_module",
    "get_model",
    "initialize_model",
    "load_dataset",
    "seed_everything",
]
