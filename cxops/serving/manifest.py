"""The build manifest: sha256 of every file the server reads. A file that changed after the build (corruption,
a hand edit) makes the server not ready instead of serving something that was never tested."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = "manifest.json"
SERVED = ("model", "fast", "version.json")  # what the server reads; golden.json is for the tests


def file_hashes(root: Path) -> dict[str, str]:
    out = {}
    for entry in SERVED:
        path = root / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if f.exists():
                out[f.relative_to(root).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def write_manifest(root: Path) -> None:
    (root / MANIFEST).write_text(json.dumps({"sha256": file_hashes(root)}, indent=2, sort_keys=True))


def model_digest(root: Path) -> str | None:
    """ "sha256:<hex>" of the build's manifest.json, which lists the sha256 of every file the server reads: one
    value naming exactly what is served (a build's `model_digest`, its overlay's MODEL_DIGEST, the server's
    /version). None when the manifest is unreadable."""
    try:
        return "sha256:" + hashlib.sha256((root / MANIFEST).read_bytes()).hexdigest()
    except OSError:
        return None


def verify_manifest(root: Path) -> str | None:
    """None if every listed file is intact, else the first problem."""
    try:
        listed = json.loads((root / MANIFEST).read_text())["sha256"]
    except (OSError, ValueError, KeyError) as exc:
        return f"{MANIFEST} unreadable: {exc}"
    actual = file_hashes(root)
    for name, digest in sorted(listed.items()):
        if actual.get(name) != digest:
            return f"{name} does not match the build manifest ({'missing' if name not in actual else 'changed'})"
    extra = sorted(set(actual) - set(listed))
    return f"{extra[0]} is not in the build manifest" if extra else None
