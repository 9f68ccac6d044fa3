"""`cxops gitops verify | pre-receive | hook | guard` and `cxops reconcile`: promotion by `git push`, made safe."""

from __future__ import annotations

from pathlib import Path

import typer

from cxops.cli.options import JSON

app = typer.Typer(
    help="Promotion by git push: the rules a push must obey, the server hook, the cluster's guard.",
    no_args_is_help=True,
)

GitDir = typer.Option(
    None,
    "--git-dir",
    help="Repository holding the commits (default: $GIT_DIR, else the lab's "
    "GitOps remote when gitops.remote is unset, else the current repo).",
)


def _git_dir(explicit: Path | None) -> Path:

    from cxops.config import load_config
    from cxops.gitops.repo import git

    if explicit is not None:
        return explicit
    from cxops.settings import settings

    if git_dir := settings().git_dir:
        return Path(git_dir).resolve()
    cfg = load_config()
    if cfg.embedded:
        from cxops.gitops.bare_remote import ensure_bare_remote
        from cxops.paths import state_dir

        return ensure_bare_remote(state_dir(cfg), cfg.gitops.branch)[0]
    return Path(git("rev-parse", "--absolute-git-dir"))


@app.command()
def verify(
    old: str = typer.Argument(..., help="The commit the branch is at now (what is deployed)."),
    new: str = typer.Argument(..., help="The commit a push would move it to."),
    git_dir: Path = GitDir,
) -> None:
    """Is moving the GitOps branch from OLD to NEW a safe promotion? Exit 0, or 3 with one line per broken rule.

    Rules, for every environment whose overlay changes: the version is registered and built, the image is its
    build, it passed the gate guarding the environment unless it was there before (a rollback); no canary weight
    without a canary; no rewritten or deleted branch."""
    from cxops.cli.output import ok
    from cxops.config import load_config
    from cxops.errors import GateFailed
    from cxops.gitops.repo import git
    from cxops.gitops.verify import Push, branch_ref, verify_push

    cfg = load_config()
    where = _git_dir(git_dir)
    resolve = [git(f"--git-dir={where}", "rev-parse", "--verify", f"{rev}^{{commit}}") for rev in (old, new)]
    violations = verify_push(cfg, where, Push(resolve[0], resolve[1], branch_ref(cfg)))
    if violations:
        raise GateFailed("\n".join(v.line() for v in violations))
    ok(f"{old} → {new}: every changed environment obeys the promotion rules")


@app.command("pre-receive")
def pre_receive(git_dir: Path = GitDir) -> None:
    """git's pre-receive hook: refuse a push that breaks the promotion rules, and say why.

    Reads `<old> <new> <ref>` lines on stdin. Install it as a repository's `hooks/pre-receive` or as a
    Gitea/GitLab server hook (docs/operations.md)."""
    import sys

    from cxops.config import load_config
    from cxops.errors import ExitCode
    from cxops.gitops.hook import pre_receive as run

    try:
        cfg = load_config()
    except Exception as exc:  # a hook that cannot load its config refuses (fail closed)
        print(f"cxops: push refused: cannot load cxops.yaml ({exc})", file=sys.stderr)
        raise typer.Exit(ExitCode.ERROR) from None
    raise typer.Exit(run(cfg, _git_dir(git_dir), sys.stdin))


@app.command()
def hook(
    install: Path = typer.Option(None, "--install", help="Write it as hooks/pre-receive of this bare repo."),
) -> None:
    """Print the pre-receive hook script for this project (or install it into a bare repository)."""
    from cxops.config import config_path
    from cxops.gitops.hook import hook_script, install_hook

    if install is None:
        typer.echo(hook_script(config_path().resolve()), nl=False)
        return
    from cxops.cli.output import ok

    ok(f"installed {install_hook(install, config_path())}")


@app.command()
def guard(
    outputs_dir: Path = typer.Option(None, "--outputs-dir", help="Write the outcome here (Argo outputs)."),
    json_out: bool = JSON,
) -> None:
    """Cluster-side check of pushes: revert a bad one with a commit that says why (exit 3).

    Verifies everything pushed since the last verified commit (kept as refs/cxops/verified in the remote); a
    good range just advances that ref (exit 0)."""
    from cxops.cli.step_cmd import report
    from cxops.config import load_config
    from cxops.gitops.guard import run

    report(run(load_config()), outputs_dir, json_out)


def reconcile(
    json_out: bool = JSON,
    start_lab: bool = typer.Option(
        True, "--start-lab/--no-start-lab", help="Start the lab's MLflow if it is down (the controller does not)."
    ),
) -> None:
    """Registry follows git: move each env's alias to what live serves of git's version.

    `<env>-previous` keeps the version replaced (a push back to it is a rollback and clears it); the version is
    tagged with the commit that caused the move. Environments still catching up are left for the next run."""
    from cxops.cli.output import emit_json, table
    from cxops.config import load_config
    from cxops.release.reconcile import reconcile as run

    rows = run(load_config(), start_lab=start_lab)
    if json_out:
        emit_json([r.as_dict() for r in rows])
        return
    table(
        "registry follows git",
        ["env", "git", "alias before", "alias", "action", "commit", "author", "detail"],
        [
            [
                r.env,
                r.git or "-",
                r.alias_before or "-",
                r.alias or "-",
                r.action,
                (r.commit or "")[:12],
                r.author or "",
                r.detail,
            ]
            for r in rows
        ],
    )
