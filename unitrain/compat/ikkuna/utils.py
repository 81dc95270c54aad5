"""ikkuna's utilities that scripts import: ``NamedModule`` and ``freeze_module``.

``freeze_module`` really freezes (ikkuna's set an attribute on the module and did nothing).
"""

from unitrain.bus.subscribers.control import freeze_module
from unitrain.compat.ikkuna.messages import NamedModule

__all__ = ["NamedModule", "freeze_module"]
