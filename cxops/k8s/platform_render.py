"""Render k8s/argocd/ and k8s/platform/ from cxops.yaml, and detect drift between the code and the committed files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cxops import generated
from cxops.config.schema import Config
from cxops.errors import CxopsError

COMMAND = "cxops k8s render"
HEADER = generated.header(COMMAND)
ARGOCD_DIR = "k8s/argocd"
PLATFORM_DIR = "k8s/platform"
EXPOSURE_FILE = f"{PLATFORM_DIR}/exposure.yaml"  # the exposure inventory (cxops.k8s.exposure); no Application reads it
KUSTOMIZE = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}


def _yaml(*docs: dict[str, Any]) -> str:
    return HEADER + "---\n".join(yaml.safe_dump(d, sort_keys=False, width=120) for d in docs)


def rendered(cfg: Config) -> dict[str, str]:
    """Repository-relative path → text of every file `cxops k8s render` owns."""
    from cxops.k8s import argocd_apps as argocd
    from cxops.k8s import exposure
    from cxops.k8s.components import components

    comps = components(cfg)
    out: dict[str, str] = {}
    apps: dict[str, dict[str, Any]] = {
        "serving.yaml": argocd.serving_appset(cfg),
        "traffic.yaml": argocd.traffic_app(cfg),
        "workflows.yaml": argocd.workflows_app(cfg),
    }
    for c in comps:
        apps[f"platform-{c.name}.yaml"] = argocd.platform_app(cfg, c)
        if c.chart is not None:
            out[f"{c.dir}/values.yaml"] = _yaml(c.values)
            continue
        kustomization: dict[str, Any] = {**KUSTOMIZE, "resources": ["objects.yaml"]}
        if c.generators:
            kustomization["configMapGenerator"] = c.generators
        out[f"{c.dir}/kustomization.yaml"] = _yaml(kustomization)
        out[f"{c.dir}/objects.yaml"] = _yaml(*c.objects)
        out.update({f"{c.dir}/{rel}": text for rel, text in c.files.items()})
    for name, app in apps.items():
        out[f"{ARGOCD_DIR}/apps/{name}"] = _yaml(app)
    out[f"{ARGOCD_DIR}/apps/kustomization.yaml"] = _yaml({**KUSTOMIZE, "resources": sorted(apps)})
    out[f"{ARGOCD_DIR}/root-application.yaml"] = _yaml(argocd.project(cfg, comps), argocd.root_app(cfg))
    out[f"{ARGOCD_DIR}/kustomization.yaml"] = _yaml({**KUSTOMIZE, "resources": ["root-application.yaml", "apps"]})
    out[EXPOSURE_FILE] = _yaml(exposure.document(cfg))
    return dict(sorted(out.items()))


def _files(cfg: Config, root: Path) -> dict[Path, str]:
    return {root / rel: text for rel, text in rendered(cfg).items()}


def write(cfg: Config, root: Path) -> list[Path]:
    """Write every file under `root` and delete stale generated files there (a dropped component must not linger);
    files without the marker (hand-made) are kept, and `--check` reports them."""
    files = _files(cfg, root)
    changed = generated.write_all(files)
    for d in (ARGOCD_DIR, PLATFORM_DIR):
        for stale in sorted((root / d).glob("**/*")):
            if stale.is_file() and stale not in files and _generated(stale):
                stale.unlink()
                changed.append(stale)
    return changed


def _generated(path: Path) -> bool:
    """YAML with the marker on its first line, or a dashboard whose description carries it (JSON has no comments)."""
    if path.suffix == ".json":
        try:
            return generated.MARKER in path.read_text()[:2000]
        except (OSError, UnicodeDecodeError):
            return False
    return generated.is_generated(path)


def drift(cfg: Config, root: Path) -> list[str]:
    """A unified diff or a one-line reason per file that differs from what the code renders now; empty = in sync.
    Files under k8s/argocd/ and k8s/platform/ that nothing renders are reported as stale."""
    files = _files(cfg, root)
    problems = generated.drift(files)
    for d in (ARGOCD_DIR, PLATFORM_DIR):
        for extra in sorted((root / d).glob("**/*")):
            if extra.is_file() and extra not in files:
                problems.append(f"{extra}: not rendered by the code (stale?)")
    return problems


def check(cfg: Config, root: Path) -> None:
    """Raise CxopsError with the diffs when k8s/argocd or k8s/platform is out of date."""
    problems = drift(cfg, root)
    if problems:
        raise CxopsError(f"generated files are out of date, run `{COMMAND}`:\n" + "\n".join(problems))
