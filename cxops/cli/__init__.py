"""The `cxops` command line: one Typer sub-app per room, no logic of its own."""
