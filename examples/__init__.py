"""Examples that the README's guides run (not installed with the package)."""
