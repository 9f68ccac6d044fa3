"""Shared CLI output: one console, Rich tables, JSON for --json, spinners for slow work."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
for _c in (console, err_console):
    if not _c.is_terminal and "COLUMNS" not in os.environ:
        _c.width = 120  # logs and CI: wide enough for the status table, instead of Rich's 80


def emit_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else; a non-finite number is null (JSON has no NaN)."""
    from cxops.pipeline.verdict import json_safe

    sys.stdout.write(json.dumps(json_safe(data), indent=2, sort_keys=False, default=str, allow_nan=False) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def key_values(title: str, pairs: dict[str, Any]) -> None:
    table(title, ["key", "value"], list(pairs.items()))


@contextlib.contextmanager
def spinner(message: str) -> Iterator[None]:
    """Show a spinner on a terminal; stay silent when output is piped (logs, CI)."""
    if not err_console.is_terminal:
        yield
        return
    with err_console.status(message):
        yield


def ok(message: str) -> None:
    console.print(f"[green]✔[/green] {message}")


def fail(message: str) -> None:
    console.print(f"[red]✘[/red] {message}")
