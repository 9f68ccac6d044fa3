"""Shared CLI output: one console, Rich tables, JSON for --json, spinners for slow work."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from cxops.settings import settings


def _on_terminal(stream: Any) -> bool:
    """Whether STREAM is a real terminal. Colour, styles and live spinners are only for one, whatever FORCE_COLOR
    says: Jupyter kernels set FORCE_COLOR for their own output, and a notebook cell, a log or a pipe would get escape
    codes and every spinner frame. NO_COLOR (no-color.org) turns colour off on a terminal too."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def _console(stderr: bool) -> Console:
    terminal = _on_terminal(sys.stderr if stderr else sys.stdout)
    env = settings()
    plain = not terminal or bool(env.no_color)
    c = Console(
        stderr=stderr, highlight=False, force_terminal=terminal, no_color=plain, color_system=None if plain else "auto"
    )
    if not terminal and env.columns is None:
        c.width = 120  # logs and CI: wide enough for the status table, instead of Rich's 80
    return c


console = _console(stderr=False)
err_console = _console(stderr=True)


def emit_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else; a non-finite number is null (JSON has no NaN)."""
    from cxops.gates.verdict import json_safe

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
