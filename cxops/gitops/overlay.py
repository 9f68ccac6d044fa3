"""One environment's desired state: `model.env` (model name, version, image, model digest) and the kustomization
`images:` entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

IMAGE_PLACEHOLDER = "cxops-serving"  # the image name the base Deployment uses; overlays replace it


@dataclass(frozen=True)
class Desired:
    env: str
    version: str | None  # None: nothing deployed
    image: str | None
    name: str | None = None  # the registered model (MODEL_NAME)
    digest: str | None = None  # the build's model digest (MODEL_DIGEST; None in an overlay written before it)

    @property
    def ref(self) -> str | None:
        """ "<model>/<version>" (also the build's folder under .cxops/builds/), or None when nothing is deployed."""
        return f"{self.name}/{self.version}" if self.version is not None and self.name else self.version

    def label(self) -> str:
        """What is deployed, for messages: "digits v2" (or "nothing")."""
        return f"{self.name + ' ' if self.name else ''}v{self.version}" if self.version else "nothing"


def parse_env_file(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def desired_from_text(env: str, model_env: str) -> Desired:
    values = parse_env_file(model_env)
    return Desired(
        env,
        values.get("MODEL_VERSION") or None,
        values.get("MODEL_IMAGE") or None,
        values.get("MODEL_NAME") or None,
        values.get("MODEL_DIGEST") or None,
    )


def write_overlay(
    overlay_dir: Path,
    env: str,
    model_name: str,
    version: str | None,
    image: str | None,
    replicas: int = 1,
    digest: str | None = None,
    server_env: Mapping[str, str] | None = None,
) -> None:
    """Rewrite model.env, the images entry and the replica count; the files are cxops-owned, so rewriting is safe.
    `server_env`: further variables for the model server (cxops.yaml's serving limits, `Serving.server_env`).

    An env with nothing deployed gets 0 replicas: the Deployment stays, no pod runs a placeholder image.
    `digest` is the build's model digest (MODEL_DIGEST): what the env's server must report on /version."""
    lines = [
        f"MODEL_NAME={model_name}",
        f"MODEL_VERSION={version or ''}",
        f"MODEL_IMAGE={image or ''}",
        f"MODEL_DIGEST={(digest or '') if version else ''}",
        f"CXOPS_ENV={env}",
        *(f"{k}={v}" for k, v in (server_env or {}).items()),
    ]
    (overlay_dir / "model.env").write_text("\n".join(lines) + "\n")
    kpath = overlay_dir / "kustomization.yaml"
    doc = yaml.safe_load(kpath.read_text()) or {}
    name, _, tag = (image or "").rpartition(":")
    entry = {
        "name": IMAGE_PLACEHOLDER,
        "newName": name or doc.get("images", [{}])[0].get("newName", ""),
        "newTag": tag or "none",
    }
    others = [i for i in doc.get("images", []) if i.get("name") != IMAGE_PLACEHOLDER]
    doc["images"] = [entry, *others]
    doc["replicas"] = [{"name": "model-server", "count": replicas if version else 0}]
    kpath.write_text(yaml.safe_dump(doc, sort_keys=False))
