"""The pre-receive hook: the promotion rules enforced where every push lands (the lab's bare remote, Gitea, GitLab).

git runs `hooks/pre-receive` once per push with one `<old> <new> <ref>` line per ref on stdin, before any ref
moves; a non-zero exit refuses the whole push, and whatever the hook prints reaches the pusher's terminal as
`remote: ...` lines (git-scm.com, githooks(5)). New objects stay in a quarantine until the hook accepts, so a refused
push leaves nothing behind.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from cxops.config import Config
from cxops.generated import header
from cxops.gitops.verify import Push, Violation, verify_push
from cxops.settings import settings

HOOK = "pre-receive"
MLFLOW_TIMEOUT = "5"  # seconds a pusher waits for an MLflow that does not answer before the push is refused


def parse_input(lines: Iterable[str]) -> list[Push]:
    """The hook's stdin: `<old> <new> <ref>` per line; blank lines are ignored."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            out.append(Push(*parts))
    return out


def pre_receive(cfg: Config, git_dir: Path, lines: Iterable[str], err: TextIO = sys.stderr) -> int:
    """Check every ref update; print the verdict for the pusher; 0 accepts, 1 refuses. Any failure refuses."""
    violations: list[Violation] = []
    try:
        for push in parse_input(lines):
            violations += verify_push(cfg, git_dir, push)
    except Exception as exc:  # fail closed: a check that could not run is a refusal
        violations.append(
            Violation("cxops", f"the check itself failed, refusing (fail closed): {type(exc).__name__}: {exc}")
        )
    if not violations:
        print("cxops: push verified: every changed environment obeys the promotion rules", file=err)
        return 0
    print(f"cxops: push refused, {len(violations)} rule(s) broken; nothing was changed:", file=err)
    for v in violations:
        print(f"cxops:   {v.line()}", file=err)
    print("cxops: promote with `cxops promote SRC DST [V]`, roll back with `cxops rollback ENV`", file=err)
    return 1


def hook_script(config: Path, python: str | None = None, service: Path | None = None) -> str:
    """The hook file for a bare repository on this machine: runs this cxops with this project's cxops.yaml. With
    `service` (the lab's remote), the push goes to the lab's hook service on that socket first
    (cxops.gitops.hook_client), which falls back to the in-process check when the service is not running."""
    py = python or sys.executable
    if service is None:
        run = f"exec {shlex.quote(py)} -m cxops.gitops.hook\n"
    else:
        from cxops.gitops import hook_client

        client = Path(hook_client.__file__).resolve()
        run = f"exec {shlex.quote(py)} -I -S {shlex.quote(str(client))} {shlex.quote(str(service))}\n"
    return (
        "#!/bin/sh\n"
        + header("cxops lab up | cxops gitops hook --install")
        + "# Refuses pushes to the GitOps branch that are not safe promotions (`cxops gitops verify`'s rules).\n"
        + f"CXOPS_CONFIG={shlex.quote(str(config))}\nexport CXOPS_CONFIG\n"
        + f': "${{CXOPS_MLFLOW_TIMEOUT:={MLFLOW_TIMEOUT}}}"\nexport CXOPS_MLFLOW_TIMEOUT\n'
        + run
    )


def main() -> int:
    """`python -m cxops.gitops.hook`, what the installed hook runs: `cxops gitops pre-receive` without the CLI's
    imports (a push waits for the hook; on a busy machine Typer's import alone took a second). git runs the hook
    with GIT_DIR set to the repository; a config that cannot be loaded refuses the push (fail closed)."""

    from cxops.config import load_config

    try:
        cfg = load_config()
    except Exception as exc:
        print(f"cxops: push refused: cannot load cxops.yaml ({exc})", file=sys.stderr)
        return 1
    return pre_receive(cfg, Path(settings().git_dir or ".").resolve(), sys.stdin)


if __name__ == "__main__":
    sys.exit(main())


def install_hook(git_dir: Path, config: Path, service: Path | None = None) -> Path:
    """Write `hooks/pre-receive` into a bare repository (atomic, executable); returns its path. `service`: the lab's
    hook service socket (see `hook_script`)."""
    from cxops.generated import write_atomic

    path = git_dir / "hooks" / HOOK
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, hook_script(config.resolve(), service=service))
    path.chmod(0o755)
    return path
