"""The cluster's check on push: verify what reached the GitOps branch since the last verified commit, and revert a
bad push with a commit of its own that says why.

A hosted git service may not run our pre-receive hook; ArgoCD would then apply whatever was pushed. The guard (the
`gitops-guard` WorkflowTemplate, run on a schedule) closes that gap after the
fact: it keeps the last verified commit in the remote under VERIFIED_REF, checks the range VERIFIED..HEAD with the
same rules as the hook, and on a violation commits the verified state of the overlays and the traffic route back
on top of the branch, with the violations as the commit message. The first run trusts the current head.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cxops.config import ENV_NAMES, Config
from cxops.errors import CxopsError
from cxops.gitops.repo import GitOpsRepo, git
from cxops.gitops.state import gitops_repo
from cxops.gitops.verify import Push, branch_ref, verify_push
from cxops.names import overlay_dir, traffic_dir
from cxops.pipeline.results import GateResult

VERIFIED_REF = "refs/cxops/verified"
GATE = "gitops"


@dataclass
class GuardResult(GateResult):
    head: str = ""
    verified: str = ""
    revert: str = ""  # the commit that restored the verified state ("" when nothing was reverted)


def guarded_paths(cfg: Config) -> list[str]:
    """What the guard restores: every environment's overlay and the traffic route."""
    return [overlay_dir(cfg, env) for env in ENV_NAMES] + [traffic_dir(cfg)]


def run(cfg: Config) -> GuardResult:
    """Verify VERIFIED..HEAD; advance VERIFIED_REF, or revert and say why (outcome failed, the CLI exits 3)."""
    repo = gitops_repo(cfg, clone="gitops-guard")
    verified = _remote_rev(repo.remote, VERIFIED_REF)
    if _remote_rev(repo.remote, branch_ref(cfg)) is None:
        return _recreate_branch(cfg, repo, verified)
    repo.sync()
    head = repo.head()
    if verified is None:
        _mark(repo, head)
        return GuardResult(
            gate=GATE,
            outcome="passed",
            reasons=[],
            head=head,
            verified=head,
            action="first run: the current head is the verified baseline",
        )
    if verified == head:
        return GuardResult(gate=GATE, outcome="passed", reasons=[], head=head, verified=head, action="nothing new")
    git("fetch", "--quiet", "origin", f"+{VERIFIED_REF}:{VERIFIED_REF}", cwd=repo.workdir)
    violations = verify_push(cfg, repo.workdir / ".git", Push(verified, head, branch_ref(cfg)))
    if not violations:
        _mark(repo, head)
        return GuardResult(
            gate=GATE,
            outcome="passed",
            reasons=[],
            head=head,
            verified=head,
            action=f"verified {verified[:12]}..{head[:12]}",
        )
    lines = [v.line() for v in violations]
    author = git("log", "-1", "--format=%an <%ae>", head, cwd=repo.workdir)
    message = (
        f"gitops-guard: revert {head[:12]} (pushed by {author}) to the verified state of {verified[:12]}\n\n"
        "The push broke the promotion rules (`cxops gitops verify`):\n" + "\n".join(f"- {ln}" for ln in lines)
    )

    def restore(wd: Path) -> None:
        for path in guarded_paths(cfg):
            git("rm", "-r", "-q", "--ignore-unmatch", "--", path, cwd=wd)
            if git("ls-tree", "--name-only", verified, "--", path, cwd=wd):
                git("checkout", verified, "--", path, cwd=wd)

    revert = repo.change(restore, message) or ""
    _mark(repo, revert or head)
    return GuardResult(
        gate=GATE,
        outcome="failed",
        reasons=lines,
        head=head,
        verified=revert or head,
        revert=revert,
        action=f"reverted with {revert[:12]}" if revert else "nothing to revert (state already equal)",
    )


def _remote_rev(remote: str, ref: str) -> str | None:
    out = git("ls-remote", remote, ref, timeout=60)
    return out.split()[0] if out else None


def _mark(repo: GitOpsRepo, rev: str) -> None:
    git("push", "--quiet", "origin", f"+{rev}:{VERIFIED_REF}", cwd=repo.workdir, timeout=120)


def _recreate_branch(cfg: Config, repo: GitOpsRepo, verified: str | None) -> GuardResult:
    """The branch was deleted: put it back at the verified commit (from our clone's objects)."""
    branch = cfg.gitops.branch
    if verified is None or not (repo.workdir / ".git").exists():
        raise CxopsError(
            f"branch {branch} is missing on {repo.remote} and no verified commit is known locally; restore it by hand"
        )
    git("push", "--quiet", "origin", f"{verified}:{branch_ref(cfg)}", cwd=repo.workdir, timeout=120)
    return GuardResult(
        gate=GATE,
        outcome="failed",
        reasons=[f"{branch}: branch was deleted"],
        head="",
        verified=verified,
        revert=verified,
        action=f"recreated {branch} at the verified commit {verified[:12]}",
    )
