"""Bad input caught before Ansible starts: wrong ansible-core, no inventory, no Kubespray tree, no root Application,
a committed app-of-apps ArgoCD would refuse (cxops.k8s.committed)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.version import Version

from cxops import names
from cxops.cluster import layout, repository
from cxops.cluster.inventory_files import Inventory, load
from cxops.config.schema import Config
from cxops.errors import CxopsError
from cxops.k8s import committed


def check_ansible_core(installed: str | None = None) -> str:
    """The installed ansible-core version, if Kubespray accepts it. Raises CxopsError naming both versions."""
    if installed is None:
        try:
            installed = metadata.version("ansible-core")
        except metadata.PackageNotFoundError as exc:
            raise CxopsError("ansible-core is not installed; run `make setup` (pins ansible==11.13.0)") from exc
    low, high = layout.ANSIBLE_CORE_RANGE
    if not Version(low) <= Version(installed) < Version(high):
        raise CxopsError(
            f"ansible-core {installed} is installed; Kubespray {layout.KUBESPRAY_VERSION} needs "
            f">={low},<{high}: run `make setup` (pins ansible==11.13.0)"
        )
    return installed


def check_kubespray(ansible_dir: Path) -> Path:
    """Kubespray's tree (the pinned submodule). Raises CxopsError with the one command that fetches it."""
    tree = ansible_dir / layout.KUBESPRAY_DIR
    if not (tree / "cluster.yml").is_file():
        raise CxopsError(f"Kubespray tree missing at {tree}: run `{layout.KUBESPRAY_FETCH}`")
    return tree


def check_root_application(project_root: Path) -> Path:
    """The rendered root Application the bootstrap applies. Raises CxopsError naming the command that renders it."""
    path = project_root / names.root_application_file()
    if not path.is_file():
        raise CxopsError(f"root Application missing at {path}: run `cxops k8s render`")
    return path


def check(
    project_root: Path, inventory_dir: Path, stages: list[str], skip_tags: list[str], cfg: Config | None = None
) -> Inventory:
    """Every check the stages need, in the order a user would fix them; returns the loaded inventory. With `cfg`,
    the bootstrap also needs ArgoCD's repository credential (cxops.cluster.repository)."""
    check_ansible_core()
    tree = layout.ansible_dir(project_root)
    if not (tree / "site.yml").is_file():
        raise CxopsError(f"no Ansible tree at {tree}: run cxops from the project's repository (beside cxops.yaml)")
    inv = load(inventory_dir)
    if layout.NEEDS_KUBESPRAY.intersection(stages):
        check_kubespray(layout.ansible_dir(project_root))
    if layout.NEEDS_ROOT_APPLICATION.intersection(stages) and "needs_k8s" not in skip_tags:
        check_root_application(project_root)
        committed.check(project_root)  # what ArgoCD would refuse once the root app is applied
        if cfg is not None:
            repository.check_credentials(cfg, project_root)
    return inv
