"""The promotion rules that need no registry, on real git repositories; the hook script; the endpoint's nginx config
checked by the real nginx (`nginx -t`). The registry-backed rules run against a real MLflow in
tests/integration/test_push_promotion.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cxops.config.schema import Config
from cxops.gitops import history
from cxops.gitops.hook import hook_script, parse_input, pre_receive
from cxops.gitops.overlay import write_overlay
from cxops.gitops.repo import git, hook_reasons
from cxops.gitops.traffic import backend_weights, write_traffic
from cxops.gitops.verify import Push, verify_push
from tests.unit.gitops_work import commit, config, seeded_repo

ZERO = "0" * 40


@pytest.fixture
def cfg() -> Config:
    return config()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A work repository seeded with the project's k8s/ (what the lab's remote starts from)."""
    return seeded_repo(tmp_path)


def check(cfg: Config, wd: Path, old: str, new: str, ref: str = "refs/heads/main") -> list[str]:
    def no_registry():  # these cases must never need one
        raise AssertionError("the registry was consulted")

    return [v.line() for v in verify_push(cfg, wd / ".git", Push(old, new, ref), registry=no_registry)]


def test_retiring_the_canary_needs_its_weight_at_zero(cfg, repo):
    seed = git("rev-parse", "HEAD", cwd=repo)
    write_traffic(repo, cfg, canary_active=True)  # weight on, but the canary overlay stays empty
    new = commit(repo, "weight without canary")
    assert check(cfg, repo, seed, new) == [
        f"traffic: canary weight {cfg.environments.canary.weight} but no canary is deployed; it must be 0 while the "
        "canary overlay is empty"
    ]
    write_traffic(repo, cfg, canary_active=False)
    git("reset", "--quiet", "--soft", seed, cwd=repo)  # the refused commit is replaced, not followed by a fix
    assert check(cfg, repo, seed, commit(repo, "weight off")) == []


def test_the_canary_weight_in_a_commit_of_its_own_is_accepted_and_retiring_zeroes_it(cfg, repo):
    """What `cxops step deploy canary` pushes (audit K6): the overlay with weight 0, later the weight alone; then a
    retire empties the overlay and zeroes the weight in one commit. The weight's commit and the retire need no
    registry (only an overlay with a version does: tests/integration/test_push_promotion.py)."""
    canary = repo / "k8s/serving/overlays/canary"
    write_overlay(canary, "canary", cfg.model.name, "3", "registry.example/m:3-abc", 1, "sha256:0")
    write_traffic(repo, cfg, canary_active=False)
    deployed = commit(repo, "canary: deploy v3 (weight 0)")
    write_traffic(repo, cfg, canary_active=True)
    weighted = commit(repo, "traffic: canary weight")
    assert check(cfg, repo, deployed, weighted) == []
    write_overlay(canary, "canary", cfg.model.name, None, None)
    write_traffic(repo, cfg, canary_active=False)
    assert check(cfg, repo, weighted, commit(repo, "canary: retire")) == []
    git("reset", "--quiet", "--hard", weighted, cwd=repo)
    write_overlay(canary, "canary", cfg.model.name, None, None)  # the overlay empties, the weight stays: refused
    lines = check(cfg, repo, weighted, commit(repo, "canary: retire, weight left"))
    assert lines == [
        f"traffic: canary weight {cfg.environments.canary.weight} but no canary is deployed; it must be 0 while the "
        "canary overlay is empty"
    ]


def test_production_may_not_be_emptied_and_the_model_name_is_checked(cfg, repo):
    seed = git("rev-parse", "HEAD", cwd=repo)
    write_overlay(repo / "k8s/serving/overlays/production", "production", "someone-elses-model", None, None)
    lines = check(cfg, repo, seed, commit(repo, "empty production"))
    assert any("MODEL_NAME=someone-elses-model" in ln for ln in lines)
    assert "production: production would serve nothing; roll back to an earlier version instead" in lines


def test_weights_must_add_up(cfg, repo):
    seed = git("rev-parse", "HEAD", cwd=repo)
    route = repo / "k8s/serving/traffic/httproute.yaml"
    doc = yaml.safe_load(route.read_text())
    doc["spec"]["rules"][0]["backendRefs"][0]["weight"] = 90
    route.write_text(yaml.safe_dump(doc))
    assert check(cfg, repo, seed, commit(repo, "90/0")) == [
        "traffic: weights add up to 90, not 100 (production 90, canary 0)"
    ]
    doc["spec"]["rules"][0]["backendRefs"][0]["namespace"] = "elsewhere"
    route.write_text(yaml.safe_dump(doc))
    git("reset", "--quiet", "--soft", seed, cwd=repo)  # the refused commit is replaced
    assert "neither production's nor the canary's" in check(cfg, repo, seed, commit(repo, "elsewhere"))[0]


def test_force_push_branch_deletion_and_other_refs(cfg, repo):
    seed = git("rev-parse", "HEAD", cwd=repo)
    first = commit(repo, "one")
    git("reset", "--quiet", "--hard", seed, cwd=repo)
    other = commit(repo, "another one")
    assert history.is_ancestor(repo / ".git", seed, first) and not history.is_ancestor(repo / ".git", first, other)
    lines = check(cfg, repo, first, other)
    assert len(lines) == 1 and lines[0].startswith("main: history rewrite refused (force-push)")
    assert check(cfg, repo, first, ZERO) == [
        "main: deleting branch main is refused: it is what every environment deploys"
    ]
    assert check(cfg, repo, first, other, ref="refs/heads/feature") == [], "only the GitOps branch is deployed"


def test_history_reads(cfg, repo):
    gd = repo / ".git"
    seed = git("rev-parse", "HEAD", cwd=repo)
    for v in ("3", "4"):
        write_overlay(repo / "k8s/serving/overlays/staging", "staging", cfg.model.name, v, f"r/m:{v}-x")
        subprocess.run(
            ["git", "commit", "--quiet", "-am", f"staging v{v}"],
            cwd=repo,
            check=True,
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(repo),
                "GIT_AUTHOR_NAME": "Ann",
                "GIT_AUTHOR_EMAIL": "ann@x",
                "GIT_COMMITTER_NAME": "Ann",
                "GIT_COMMITTER_EMAIL": "ann@x",
            },
        )
    head = git("rev-parse", "HEAD", cwd=repo)
    model_env = "k8s/serving/overlays/staging/model.env"
    assert history.values_ever_set(gd, head, model_env, "MODEL_VERSION") == {"3", "4"}
    assert history.values_ever_set(gd, seed, model_env, "MODEL_VERSION") == set()
    change = history.last_change(gd, head, "k8s/serving/overlays/staging")
    assert change.commit == head and change.author == "Ann" and change.subject == "staging v4"
    assert history.last_change(gd, head, "k8s/serving/overlays/canary").subject == "seed"
    assert history.changed(gd, seed, head, "k8s/serving/overlays/staging")
    assert not history.changed(gd, seed, head, "k8s/serving/overlays/canary")
    assert history.show(gd, head, "no/such/file") is None and history.show(gd, ZERO, model_env) is None


def test_pre_receive_refuses_and_explains(cfg, repo, capsys):
    seed = git("rev-parse", "HEAD", cwd=repo)
    write_traffic(repo, cfg, canary_active=True)
    new = commit(repo, "weight without canary")
    import io

    err = io.StringIO()
    assert pre_receive(cfg, repo / ".git", [f"{seed} {new} refs/heads/main\n"], err=err) == 1
    text = err.getvalue()
    assert "push refused, 1 rule(s) broken" in text and "cxops:   traffic: canary weight" in text
    remote = "".join(f"remote: {ln}\n" for ln in text.splitlines())
    assert hook_reasons(remote).startswith("traffic: canary weight")
    ok = io.StringIO()
    assert pre_receive(cfg, repo / ".git", [f"{seed} {seed} refs/heads/main", ""], err=ok) == 0
    assert parse_input(["a b refs/heads/x\n", "\n", "bad line\n"]) == [Push("a", "b", "refs/heads/x")]


@pytest.mark.parametrize("service", [None, Path("/srv/my project/.cxops/gitops-hook.sock")])
def test_hook_script_is_valid_shell(tmp_path, service):
    script = tmp_path / "pre-receive"
    script.write_text(hook_script(Path("/srv/my project/cxops.yaml"), "/opt/venv/bin/python", service=service))
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    lint = subprocess.run([shellcheck, "--shell=sh", str(script)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    text = script.read_text()
    assert "CXOPS_CONFIG='/srv/my project/cxops.yaml'" in text
    if service is None:
        assert "-m cxops.gitops.hook" in text
    else:  # the stdlib-only client, no site-packages, with the socket quoted
        assert "-I -S" in text and "hook_client.py '/srv/my project/.cxops/gitops-hook.sock'" in text


def test_backend_weights_of_the_committed_route(cfg):
    from helpers import REPO

    text = (REPO / "k8s/serving/traffic/httproute.yaml").read_text()
    assert backend_weights(cfg, text) == {"production": 100, "canary": 0}
    with pytest.raises(ValueError, match="not an HTTPRoute"):
        backend_weights(cfg, "kind: Service\n")


@pytest.mark.parametrize("canary", [0, 10, 99])
def test_endpoint_config_passes_nginx_t(cfg, tmp_path, monkeypatch, canary):
    from cxops.lab import endpoint

    monkeypatch.setattr(endpoint, "endpoint_dir", lambda _cfg: tmp_path / "endpoint")
    endpoint.write_conf(cfg, endpoint.Split(100 - canary, canary))
    text = endpoint.conf_path(cfg).read_text()
    assert (f"{canary}% canary;" in text) == bool(canary) and f"X-Cxops-Canary-Weight {canary}" in text
    test = subprocess.run(endpoint._argv(cfg, "-t", "-q"), capture_output=True, text=True, timeout=30)
    assert test.returncode == 0, test.stderr
    assert endpoint.applied_split(cfg) is None  # recorded only once nginx serves it
    endpoint.record_split(cfg, endpoint.Split(100 - canary, canary))
    assert endpoint.applied_split(cfg) == endpoint.Split(100 - canary, canary)
