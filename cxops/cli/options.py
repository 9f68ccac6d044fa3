"""Options several commands share, each defined once: the same flag, default and help wherever it appears."""

from __future__ import annotations

import typer

JSON = typer.Option(False, "--json", help="Print the result as JSON instead of tables or text.")
