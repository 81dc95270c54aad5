"""``aitoolbox.torchtrain.data``: datasets and batch feed definitions."""
