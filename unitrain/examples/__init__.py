"""Examples that ship inside the package, so ``unitrain demo`` works from any install."""
