"""Adapters that run code written against a seed system's API on the one engine.

Each subpackage keeps its seed's public names (only the import line changes) and turns the
seed's plugins into pluggy plugins on the one spec, ordered by the one rule.
"""
