"""aitoolbox's shipped callback library, running on the unitrain engine."""
