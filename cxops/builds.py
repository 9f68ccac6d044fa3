"""The serving artifact of a model version: directory layout, golden predictions, content digest."""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib.metadata import version as dist_version
from pathlib import Path

import cxops

# The server itself; the model's own requirements (MLflow's requirements.txt beside MLmodel) are added per build.
SERVING_DISTS = (
    "fastapi",
    "starlette",
    "uvicorn",
    "httptools",
    "uvloop",
    "numpy",
    "orjson",
    "prometheus-client",
    "pyyaml",
    "pydantic",
    "swagger-ui-bundle-v2",  # /docs: Swagger UI's files, served by the server (cxops.serving.docs_page)
    "jinja2",  # required by swagger-ui-bundle-v2 (pinned here like the rest)
    "markupsafe",
)
# What MLflow's sklearn loader needs for a skops file but does not list in the model's requirements.
LOADER_DISTS = {"skops": ("skops", "prettytable", "wcwidth")}
DOCKERFILE = Path(cxops.__file__).resolve().parents[1] / "docker" / "serving.Dockerfile"


def content_digest(root: Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order: same content, same digest."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + h.hexdigest()


def write_image_context(dest: Path) -> None:
    """Dockerfile, pinned serving requirements and the serving package: what the image build needs."""
    shutil.copyfile(DOCKERFILE, dest / "Dockerfile")
    pkg = Path(cxops.__file__).resolve().parent
    (dest / "cxops").mkdir()
    shutil.copyfile(pkg / "__init__.py", dest / "cxops" / "__init__.py")
    shutil.copytree(pkg / "serving", dest / "cxops" / "serving", ignore=shutil.ignore_patterns("__pycache__"))


def write_model_requirements(dest: Path, mlmodel: dict) -> None:
    """requirements-serving.txt: the server's pinned dists plus exactly the model's pinned requirements (its
    requirements.txt as logged; a model pin wins over the server's for the same dist). Nothing is installed when
    the container starts. CxopsError for a model requirement that is not pinned with ==."""
    from cxops.errors import CxopsError

    pins = {d: f"{d}=={dist_version(d)}" for d in SERVING_DISTS}
    sk = (mlmodel.get("flavors") or {}).get("sklearn") or {}
    if sk.get("serialization_format") == "skops":
        pins.update({d: f"{d}=={dist_version(d)}" for d in LOADER_DISTS["skops"]})
    model_reqs = dest / "model" / "requirements.txt"
    lines = model_reqs.read_text().splitlines() if model_reqs.exists() else []
    for line in (ln.strip() for ln in lines):
        if not line or line.startswith("#"):
            continue
        name, sep, _ = line.partition("==")
        if not sep:
            raise CxopsError(
                f"model requirement {line!r} is not pinned (name==version); log the model with exact pip_requirements"
            )
        pins[name.strip().lower().replace("_", "-")] = line
    (dest / "requirements-serving.txt").write_text("".join(f"{p}\n" for p in sorted(pins.values())))


def builds_dir(state: Path) -> Path:
    d = state / "builds"
    d.mkdir(parents=True, exist_ok=True)
    return d


def build_dir(state: Path, name: str, version: str) -> Path:
    """`<state>/builds/<model name>/<version>/`: `build.json` and `context/`. Keyed by model AND version, so two
    models' version 1 never share (or reuse) a build."""
    return builds_dir(state) / name / str(version)


def read_build(state: Path, name: str, version: str) -> dict | None:
    """build.json of model `name` version `version`, or None when there is none (or it names another model)."""
    meta = build_dir(state, name, version) / "build.json"
    try:
        doc = json.loads(meta.read_text())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("name") == name else None
