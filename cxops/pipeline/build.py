"""The serving artifact of a model version: directory layout, golden predictions, content digest."""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib.metadata import version as dist_version
from pathlib import Path

import cxops

SERVING_DISTS = ("fastapi", "starlette", "uvicorn", "httptools", "uvloop", "numpy", "scipy", "scikit-learn",
                 "joblib", "threadpoolctl", "skops", "packaging", "prettytable", "wcwidth", "orjson",
                 "prometheus-client", "pyyaml", "pydantic")  # fmt: skip
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
    reqs = "".join(f"{d}=={dist_version(d)}\n" for d in SERVING_DISTS)
    (dest / "requirements-serving.txt").write_text(reqs)
    pkg = Path(cxops.__file__).resolve().parent
    (dest / "cxops").mkdir()
    shutil.copyfile(pkg / "__init__.py", dest / "cxops" / "__init__.py")
    shutil.copytree(pkg / "serving", dest / "cxops" / "serving", ignore=shutil.ignore_patterns("__pycache__"))


def builds_dir(state: Path) -> Path:
    d = state / "builds"
    d.mkdir(parents=True, exist_ok=True)
    return d


def read_build(state: Path, version: str) -> dict | None:
    meta = builds_dir(state) / str(version) / "build.json"
    try:
        return json.loads(meta.read_text())
    except (FileNotFoundError, ValueError):
        return None
