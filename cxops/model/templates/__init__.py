"""Templates `cxops init-model` copies into a new model project (package data, read with importlib.resources)."""
