"""A small registry client over the Distribution HTTP API v2, for the image build test: push an OCI image layout (the
made-here base), pull an image back by digest (every blob's digest checked) and unpack its layers into a root
filesystem as a container runtime would (in order, OCI whiteouts applied, owners kept)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import httpx

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
TIMEOUT = httpx.Timeout(120.0, connect=10.0)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_layout(base_url: str, layout: Path, repository: str, tag: str) -> str:
    """Push the one image of an OCI layout as repository:tag (monolithic blob uploads); returns its manifest digest."""
    index = json.loads((layout / "index.json").read_text())
    desc = index["manifests"][0]
    blobs = layout / "blobs" / "sha256"
    manifest_bytes = (blobs / desc["digest"].split(":", 1)[1]).read_bytes()
    manifest = json.loads(manifest_bytes)
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as client:
        for blob in [manifest["config"], *manifest["layers"]]:
            digest = blob["digest"]
            if client.head(f"/v2/{repository}/blobs/{digest}").status_code == 200:
                continue
            start = client.post(f"/v2/{repository}/blobs/uploads/")
            start.raise_for_status()
            # the upload URL carries its own state in its query: add the digest to it, keep the rest
            location = httpx.URL(start.headers["Location"]).copy_add_param("digest", digest)
            data = (blobs / digest.split(":", 1)[1]).read_bytes()
            put = client.put(
                location,
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            put.raise_for_status()
        put = client.put(
            f"/v2/{repository}/manifests/{tag}",
            content=manifest_bytes,
            headers={"Content-Type": manifest["mediaType"]},
        )
        put.raise_for_status()
    return _sha256(manifest_bytes)


def _get_verified(client: httpx.Client, path: str, digest: str, accept: str | None = None) -> bytes:
    res = client.get(path, headers={"Accept": accept} if accept else {})
    res.raise_for_status()
    if _sha256(res.content) != digest:
        raise AssertionError(f"{path}: content digest {_sha256(res.content)}, expected {digest}")
    return res.content


def pull(base_url: str, repository: str, digest: str) -> tuple[dict, list[bytes]]:
    """The image's config and its layer blobs, fetched by digest and each checked against its digest. An index is
    followed to its linux/amd64 manifest."""
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as client:
        accept = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
        manifest = json.loads(_get_verified(client, f"/v2/{repository}/manifests/{digest}", digest, accept))
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            chosen = next(
                m
                for m in manifest["manifests"]
                if m.get("platform", {}).get("os") == "linux" and m["platform"].get("architecture") == "amd64"
            )
            manifest = json.loads(
                _get_verified(client, f"/v2/{repository}/manifests/{chosen['digest']}", chosen["digest"], accept)
            )
        config_desc = manifest["config"]
        config = json.loads(
            _get_verified(client, f"/v2/{repository}/blobs/{config_desc['digest']}", config_desc["digest"])
        )
        layers = [
            _get_verified(client, f"/v2/{repository}/blobs/{layer['digest']}", layer["digest"])
            for layer in manifest["layers"]
        ]
    return config, layers


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def unpack(layers: list[bytes], root: Path) -> None:
    """Apply the layers in order into `root` (whiteouts `.wh.NAME` delete NAME, `.wh..wh..opq` empties a
    directory); device nodes are skipped. Needs root to keep owners."""
    root.mkdir(parents=True, exist_ok=True)
    for blob in layers:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
            members = []
            for m in tar.getmembers():
                name = Path(m.name)
                if name.name == ".wh..wh..opq":
                    target = root / name.parent
                    for child in target.iterdir() if target.is_dir() else []:
                        _remove(child)
                elif name.name.startswith(".wh."):
                    _remove(root / name.parent / name.name.removeprefix(".wh."))
                elif not (m.ischr() or m.isblk()):
                    existing = root / name
                    if (existing.is_symlink() or existing.exists()) and not (m.isdir() and existing.is_dir()):
                        _remove(existing)
                    members.append(m)
            tar.extractall(root, members=members, filter="fully_trusted", numeric_owner=True)
    os.sync()
