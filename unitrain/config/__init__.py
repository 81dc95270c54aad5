"""The run config of ``unitrain fit``: a TOML or YAML file validated by pydantic."""

from unitrain.config.model import RunConfig, RunSection
from unitrain.config.source import apply_overrides, load_run_config, read_config_file
from unitrain.config.targets import load_target
from unitrain.config.toml_out import dump_toml

__all__ = [
    "RunConfig",
    "RunSection",
    "apply_overrides",
    "dump_toml",
    "load_run_config",
    "load_target",
    "read_config_file",
]
