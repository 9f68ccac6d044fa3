"""The lab controller's part of "the registry follows git": run `cxops reconcile` after git changes.

After the branch head moves (a deploy, or a person's `git push`), the controller waits until live serves what git
asks for (cheap HTTP probes), then runs `cxops reconcile --json` as a child process, so the controller itself never
imports the MLflow client. An environment still "waiting for live", or a failure (MLflow down), is retried with
backoff, at most MAX_ATTEMPTS times per head. In the cluster the `gitops-guard` CronWorkflow runs the same command.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

from cxops.config import Config
from cxops.gitops.overlay import Desired
from cxops.release.live import live, serves

MAX_ATTEMPTS = 20  # per branch head: ~8 minutes of backoff, then the disagreement stays for `cxops status` to show
BACKOFF_CAP = 30.0
LIVE_GRACE = 20.0  # after this long without live agreeing everywhere, reconcile anyway (what agrees is followed)


class RegistryFollower:
    """State of the follow loop: which head is done, the running child, attempts and the next allowed start."""

    def __init__(self, cfg: Config, run_dir: Path) -> None:
        self.cfg = cfg
        self.out = run_dir / "reconcile.json"
        self.err = run_dir / "reconcile.err"
        self.proc: subprocess.Popen | None = None
        self.spawned_head: str | None = None
        self.done_head: str | None = None
        self.head: str | None = None
        self.changed_at = 0.0
        self.attempts = 0
        self.next_at = 0.0

    def tick(self, head: str, desired: dict[str, Desired]) -> None:
        """Called every controller pass with the branch head and each env's desired state."""
        if self.proc is not None:
            rc = self.proc.poll()
            if rc is None:
                return
            self._finished(rc)
        if head == self.done_head:
            return
        now = time.monotonic()
        if head != self.head:
            self.head, self.changed_at, self.attempts, self.next_at = head, now, 0, 0.0
        if self.attempts >= MAX_ATTEMPTS or now < self.next_at:
            return
        if now - self.changed_at < LIVE_GRACE and not self._live_agrees(desired):
            return
        self._spawn(head)

    def _live_agrees(self, desired: dict[str, Desired]) -> bool:
        for env, want in desired.items():
            now = live(self.cfg, env, timeout=1.0)
            if not serves(now, want) or (want.version is not None and not now.ready):
                return False
        return True

    def _spawn(self, head: str) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cxops", "reconcile", "--json", "--no-start-lab"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        self.spawned_head = head
        self.attempts += 1

    def _finished(self, rc: int) -> None:
        self.proc = None
        try:
            err = self.err.read_text(errors="replace").strip()
        except OSError:
            err = ""
        try:
            rows = json.loads(self.out.read_text())
        except (OSError, ValueError):
            rows = []
        waiting = [r for r in rows if r.get("action") == "waiting for live"]
        for r in rows:
            if r.get("action") not in ("in sync", "waiting for live"):
                _log(
                    f"registry follows git: {r['env']} alias {r.get('alias_before') or '-'} → "
                    f"{r.get('alias') or '-'} ({r['action']}, commit {(r.get('commit') or '')[:12]} "
                    f"by {r.get('author') or '?'})"
                )
        if rc == 0 and not waiting:
            self.done_head = self.spawned_head
            return
        why = err.splitlines()[-1] if err else "; ".join(r.get("detail", "") for r in waiting)
        delay = min(2.0**self.attempts, BACKOFF_CAP)
        _log(f"reconcile attempt {self.attempts}/{MAX_ATTEMPTS} not done (exit {rc}): {why}; again in {delay:g}s")
        self.next_at = time.monotonic() + delay

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


def _log(message: str) -> None:
    print(f"controller: {message}", file=sys.stderr, flush=True)
