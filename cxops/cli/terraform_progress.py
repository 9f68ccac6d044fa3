"""Terraform's `-json` UI events as progress lines on stderr (one per finished resource) and a live status."""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape

VERBS = {"create": "creating", "update": "updating", "delete": "destroying", "replace": "replacing", "read": "reading"}


class Progress:
    """Callable for `on_event`: prints `✔ created ADDR (Ns)` / `✘ ADDR: …errored` lines, keeps a spinner current.

    Use as a context manager so the spinner stops; `quiet` prints nothing (for --json)."""

    def __init__(self, title: str, quiet: bool = False) -> None:
        from cxops.cli.output import err_console

        self.console = err_console
        self.quiet = quiet
        self.title = title
        self.started = time.monotonic()
        self.running: dict[str, str] = {}
        self.status: Any = None

    def __enter__(self) -> Progress:
        if not self.quiet and self.console.is_terminal:
            self.status = self.console.status(self.title)
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()

    def _refresh(self) -> None:
        if self.status is None:
            return
        now = ", ".join(f"{v} {k}" for k, v in list(self.running.items())[:2])
        more = f" (+{len(self.running) - 2})" if len(self.running) > 2 else ""
        elapsed = time.monotonic() - self.started
        self.status.update(f"{self.title} [{elapsed:.0f}s] {now}{more}")

    def __call__(self, event: dict[str, Any]) -> None:
        if self.quiet:
            return
        kind = event.get("type")
        hook = event.get("hook", {})
        addr = escape(hook.get("resource", {}).get("addr", ""))  # addresses hold brackets: not Rich markup
        if kind == "apply_start":
            self.running[addr] = VERBS.get(hook.get("action", ""), hook.get("action", ""))
            if self.status is None:  # logs and CI: one line when a resource starts too
                self.console.print(f"… {self.running[addr]} {addr}", soft_wrap=True)
        elif kind == "apply_complete":
            self.running.pop(addr, None)
            action = hook.get("action", "")
            done = {"create": "created", "update": "updated", "delete": "destroyed", "read": "read"}.get(action, action)
            self.console.print(f"[green]✔[/green] {done} {addr} ({hook.get('elapsed_seconds', 0)}s)", soft_wrap=True)
        elif kind == "apply_errored":
            self.running.pop(addr, None)
            message = escape(event.get("@message", f"{addr} failed"))
            self.console.print(f"[red]✘[/red] {message}", soft_wrap=True)
        elif kind == "change_summary" and self.status is None:
            self.console.print(event.get("@message", ""), soft_wrap=True, markup=False)
        self._refresh()
