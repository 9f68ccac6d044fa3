"""The build pod as rendered (workflows/build-container-image.yaml): what BuildKit needs from it besides its image
(issue 25 item 5, audit W4 and W5). The build itself runs for real in tests/integration/test_image_build.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from wf_helpers import ROOT, templates_of, workflow_templates


def _build_template() -> dict:
    return templates_of(workflow_templates()["build-container-image"])["build"]


def _container(name: str) -> dict:
    return next(c for c in _build_template()["containerSet"]["containers"] if c["name"] == name)


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_both_containers_share_a_group_that_owns_the_volume():
    """W4: `prepare` (uid 10001) writes the context and the outputs, BuildKit (uid 1000) reads the one and writes
    beside the other; only a pod fsGroup (group of the volume, supplementary group of both) lets both at it."""
    prepare, buildkit = _container("prepare"), _container("main")
    users = {prepare["securityContext"]["runAsUser"], buildkit["securityContext"]["runAsUser"]}
    assert len(users) == 2, "the two containers run as two users"
    fs_group = (_build_template().get("securityContext") or {}).get("fsGroup")
    assert fs_group is not None, "the build pod has no fsGroup: BuildKit cannot read a context only its writer may"


def test_buildkit_pushes_to_the_registry_service_by_its_cluster_name_over_http():
    """W5: a pod resolves cluster DNS names, not the nodes' /etc/hosts name of serving.image_registry, and BuildKit
    speaks HTTPS to every registry but localhost unless told otherwise."""
    buildkit = _container("main")
    push_host = _env(buildkit).get("PUSH_REGISTRY", "")
    services = [
        d
        for d in yaml.safe_load_all((ROOT / "k8s/platform/services/objects.yaml").read_text())
        if d and d["kind"] == "Service"
    ]
    in_cluster = {
        f"{s['metadata']['name']}.{s['metadata']['namespace']}.svc.cluster.local:{p['port']}"
        for s in services
        for p in s["spec"]["ports"]
    }
    assert push_host in in_cluster, f"BuildKit pushes to {push_host!r}, no Service's cluster name"
    script = buildkit["command"][-1]
    assert '"$PUSH_REGISTRY/' in script and "registry.insecure=true" in script, script


def test_node_prep_lifts_ubuntus_user_namespace_restriction():
    """W6: Ubuntu 24.04 keeps AppArmor-unconfined processes (the BuildKit pods) from using user namespaces unless
    kernel.apparmor_restrict_unprivileged_userns is 0; node_prep sets it where the kernel has the key."""
    role = ROOT / "ansible/roles/node_prep"
    defaults = yaml.safe_load((role / "defaults/main.yml").read_text())
    tasks = yaml.safe_load((role / "tasks/main.yml").read_text())
    written = [
        t
        for t in tasks
        if "kernel.apparmor_restrict_unprivileged_userns" in str(t.get("ansible.builtin.copy", {}).get("content", ""))
    ]
    assert written, "no node_prep task writes kernel.apparmor_restrict_unprivileged_userns"
    assert defaults.get("node_prep_apparmor_restrict_unprivileged_userns") == 0
    assert Path(defaults["node_prep_userns_sysctl_file"]).parent == Path("/etc/sysctl.d")
