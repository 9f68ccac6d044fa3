"""Where the Ansible tree lives and what each install stage runs."""

from __future__ import annotations

from pathlib import Path

# Kubespray as a git submodule of this repository, pinned to the v2.31.0 tag (commit 1c9add4).
KUBESPRAY_DIR = "kubespray"
KUBESPRAY_VERSION = "v2.31.0"
KUBESPRAY_FETCH = "git submodule update --init ansible/kubespray"
# Kubespray v2.31.0's playbooks/ansible_version.yml: 2.18.0 <= ansible-core < 2.19.0.
ANSIBLE_CORE_RANGE = ("2.18.0", "2.19.0")

# Stage name -> playbook, relative to ansible/. "all" is site.yml, which imports the three in order.
STAGES: dict[str, str] = {
    "prepare": "playbooks/prepare.yml",
    "kubernetes": "playbooks/kubernetes.yml",
    "bootstrap": "playbooks/bootstrap.yml",
    "all": "site.yml",
}
ORDER = ("prepare", "kubernetes", "bootstrap")
NEEDS_KUBESPRAY = frozenset({"kubernetes", "all"})
NEEDS_ROOT_APPLICATION = frozenset({"bootstrap", "all"})


def ansible_dir(root: Path) -> Path:
    """ansible/ in the project (beside cxops.yaml)."""
    return root / "ansible"


def default_inventory(root: Path) -> Path:
    """The inventory directory `cxops infra inventory` writes (hosts.yaml + ssh_config) and group_vars live in."""
    return ansible_dir(root) / "inventory" / "cxops"


def parse_stages(values: list[str]) -> list[str]:
    """`--stage` values (repeatable, comma lists) in install order; "all" alone means site.yml.

    Raises CxopsError for an unknown name or "all" mixed with others."""
    from cxops.errors import CxopsError

    wanted = [v.strip() for value in values for v in value.split(",") if v.strip()] or ["all"]
    unknown = [w for w in wanted if w not in STAGES]
    if unknown:
        raise CxopsError(f"unknown stage {unknown[0]!r}; valid: {', '.join(STAGES)} (or a comma list of stages)")
    if "all" in wanted:
        if len(set(wanted)) > 1:
            raise CxopsError("stage all (site.yml) already runs every stage; give it alone")
        return ["all"]
    return [s for s in ORDER if s in wanted]
