"""The remote accepts a change to the traffic route only in the shape cxops renders (issue 26, class 9).

Hand edits the gateway cannot serve as intended were accepted as long as the two weights added up to 100: all
traffic to the canary, another Service port, an extra rule, a route detached from the Gateway, a weight that is
`true`, the ReferenceGrant deleted. Real git repositories seeded with the project's k8s/, judged by the same
verify_push the pre-receive hook runs.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxops.config.schema import Config
from cxops.gitops.overlay import write_overlay
from cxops.gitops.repo import git
from cxops.gitops.traffic import route_problems, traffic_files, write_traffic
from cxops.gitops.verify import Push, verify_push
from tests.unit.gitops_work import commit, config, seeded_repo

ROUTE = "k8s/serving/traffic/httproute.yaml"


@pytest.fixture
def cfg() -> Config:
    return config()


@pytest.fixture
def repo(tmp_path: Path, cfg: Config) -> Path:
    """The project's k8s/ with a canary deployed (v3 at the configured weight), committed as the remote's tip."""

    def canary(wd: Path) -> None:
        write_overlay(wd / "k8s/serving/overlays/canary", "canary", cfg.model.name, "3", "registry.local/model:v3")
        write_traffic(wd, cfg, canary_active=True)

    return seeded_repo(tmp_path, canary, "canary v3 at its weight")


def check(cfg: Config, wd: Path, old: str, new: str) -> list[str]:
    def no_registry():  # a route change never needs the registry
        raise AssertionError("the registry was consulted")

    return [v.line() for v in verify_push(cfg, wd / ".git", Push(old, new, "refs/heads/main"), registry=no_registry)]


def edit_route(wd: Path, change) -> None:
    doc = yaml.safe_load((wd / ROUTE).read_text())
    change(doc)
    (wd / ROUTE).write_text(yaml.safe_dump(doc, sort_keys=False))


def _all_to_canary(d):
    d["spec"]["rules"][0]["backendRefs"][0]["weight"] = 0
    d["spec"]["rules"][0]["backendRefs"][1]["weight"] = 100


def _port(d):
    d["spec"]["rules"][0]["backendRefs"][1]["port"] = 8080


def _extra_rule(d):
    d["spec"]["rules"].append({"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}], "backendRefs": []})


def _detached(d):
    d["spec"]["parentRefs"] = [{"name": "some-other-gateway", "namespace": "elsewhere"}]


def _boolean_weight(d):
    d["spec"]["rules"][0]["backendRefs"][0]["weight"] = 99
    d["spec"]["rules"][0]["backendRefs"][1]["weight"] = True


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (_all_to_canary, "canary weight 100 is not permitted; valid: 0 or 10 (a canary is deployed)"),
        (_port, "spec.rules[0].backendRefs[1].port is 8080, cxops renders 80"),
        (_extra_rule, "spec.rules has 2 entries, cxops renders 1"),
        (_detached, "spec.parentRefs[0]"),
        (_boolean_weight, "canary weight True is not a whole percent 0..100"),
    ],
    ids=["all-to-canary", "port", "extra-rule", "detached", "boolean-weight"],
)
def test_a_hand_edited_route_is_refused_naming_what_differs(cfg, repo, change, needle):
    tip = git("rev-parse", "HEAD", cwd=repo)
    edit_route(repo, change)
    lines = check(cfg, repo, tip, commit(repo, "hand edit"))
    assert len(lines) == 1 and lines[0].startswith("traffic: ") and needle in lines[0], lines


def test_deleting_the_reference_grant_is_refused(cfg, repo):
    tip = git("rev-parse", "HEAD", cwd=repo)
    (repo / "k8s/serving/traffic/referencegrant.yaml").unlink()
    assert check(cfg, repo, tip, commit(repo, "no grant")) == [
        "traffic: referencegrant.yaml is missing; cxops renders it (cxops step promote|rollback)"
    ]


def test_the_permitted_weights_are_accepted(cfg, repo):
    tip = git("rev-parse", "HEAD", cwd=repo)
    write_traffic(repo, cfg, canary_active=False)  # pausing the canary's traffic: weight 0
    paused = commit(repo, "pause the canary")
    assert check(cfg, repo, tip, paused) == []
    write_traffic(repo, cfg, canary_active=True)
    assert check(cfg, repo, paused, commit(repo, "resume")) == []


leaf = st.one_of(st.integers(-5, 200), st.booleans(), st.text(max_size=6), st.none())


def _leaves(doc, path=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _leaves(v, (*path, i))
    else:
        yield path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), active=st.booleans())
def test_property_any_changed_value_is_refused_unless_it_is_a_rendered_route(cfg, data, active):
    files = traffic_files(cfg, active)
    doc = yaml.safe_load(files["httproute.yaml"])
    path = data.draw(st.sampled_from(list(_leaves(doc))))
    value = data.draw(leaf)
    changed = copy.deepcopy(doc)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    rendered = [yaml.safe_load(traffic_files(cfg, a)["httproute.yaml"]) for a in ({False, active})]
    problems = route_problems(cfg, {**files, "httproute.yaml": yaml.safe_dump(changed)}, active)

    def same(a, b) -> bool:  # YAML equality that tells true from 1
        return yaml.safe_dump(a) == yaml.safe_dump(b)

    if any(same(changed, r) for r in rendered):
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith("httproute.yaml"), problems
