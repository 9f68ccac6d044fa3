"""The serving image's base, made here: no public registry can be reached, so `python:3.11.11-slim-bookworm` (the
FROM of docker/serving.Dockerfile) is replaced by a Debian bookworm root from debootstrap, imported as an OCI image
layout. Built once per machine, cached outside the work tree under ~/.cache/cxops/build-base/<key>/, where the key
is the sha256 of the recipe below and of the machine's extra CA certificates (a new recipe, a new directory).

What differs from the production base (the official python image, Debian bookworm slim):
- Python is Debian's python3.11 (3.11.2 on bookworm), not a source build of 3.11.11 in /usr/local: a venv made
  at /usr/local gives the same `python` and `pip` on PATH in /usr/local/bin, with Debian's interpreter behind them.
- pip is the one ensurepip ships with Debian's python3.11 (23.0.1), not the image's newer pip.
- The machine's own extra CA certificates (/usr/local/share/ca-certificates/*.crt) are added and PIP_CERT points
  at the system bundle: here PyPI is reached through an egress proxy with its own CA; production needs neither.
- /dev is empty and the root is one layer of Debian's minbase variant plus the packages in PACKAGES.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
REFERENCE = "python:3.11.11-slim-bookworm"  # what the Dockerfile's FROM names (and cxops.yaml serving.base_image)
RECIPE_VERSION = "1"  # bump when the steps below change
ENV = (
    "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    "PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
)
EXTRA_CAS = Path("/usr/local/share/ca-certificates")


def _run(*argv: str, timeout: float = 120) -> None:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {(res.stderr or res.stdout).strip()[-2000:]}")


def _extra_cas() -> list[Path]:
    return sorted(EXTRA_CAS.glob("*.crt")) if EXTRA_CAS.is_dir() else []


def cache_key() -> str:
    """sha256 of what decides the image's content: suite, packages, recipe version, env and the extra CAs."""
    h = hashlib.sha256(json.dumps([SUITE, PACKAGES, RECIPE_VERSION, ENV]).encode())
    for ca in _extra_cas():
        h.update(ca.name.encode() + b"\0" + ca.read_bytes())
    return h.hexdigest()[:16]


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cxops" / "build-base"


def _blob(layout: Path, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _layer(root: Path, out: Path) -> None:
    """One uncompressed tar of the root, sorted, numeric owners, without /dev, /proc, /sys contents (device nodes
    cannot be made in BuildKit's user namespace; a container runtime mounts these)."""
    skip = {"dev", "proc", "sys"}

    def add(tar: tarfile.TarFile, path: Path) -> None:
        rel = path.relative_to(root).as_posix()
        info = tar.gettarinfo(str(path), arcname=rel)
        info.uname = info.gname = ""
        if info.isfile():
            with path.open("rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)
        if path.is_dir() and not path.is_symlink() and rel not in skip:
            for child in sorted(path.iterdir()):
                add(tar, child)

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for child in sorted(root.iterdir()):
            add(tar, child)


def build(dest: Path) -> None:
    """debootstrap the root, make /usr/local a venv of Debian's python3, add the CAs, write the OCI layout."""
    root = dest / "rootfs"
    _run("debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), timeout=900)
    _run("chroot", str(root), "/usr/bin/python3", "-m", "venv", "/usr/local", timeout=300)
    for ca in _extra_cas():
        shutil.copyfile(ca, root / "usr/local/share/ca-certificates" / ca.name)
    _run("chroot", str(root), "update-ca-certificates", timeout=300)
    for apt_lists in (root / "var/lib/apt/lists").glob("*_*"):
        apt_lists.unlink()
    layout = dest / "layout"
    layer_tar = dest / "layer.tar"
    _layer(root, layer_tar)
    data = layer_tar.read_bytes()
    layer_tar.unlink()
    layer = _blob(layout, data, "application/vnd.oci.image.layer.v1.tar")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": list(ENV), "Cmd": ["python3"]},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    }
    config_desc = _blob(layout, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer],
    }
    manifest_desc = _blob(layout, json.dumps(manifest).encode(), manifest["mediaType"])
    manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": REFERENCE}
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [manifest_desc]}
    (layout / "index.json").write_text(json.dumps(index))
    shutil.rmtree(root)


def base_layout() -> Path:
    """The cached OCI layout (built on first use: ~2-4 min, ~250 MB); its index names REFERENCE. Needs root and
    debootstrap (scripts/install-test-deps). RuntimeError naming the failed command."""
    home = _cache_root() / cache_key()
    layout = home / "layout"
    if (layout / "index.json").is_file():
        return layout
    home.parent.mkdir(parents=True, exist_ok=True)
    tmp = home.with_name(home.name + ".building")
    if tmp.exists():
        _run("rm", "-rf", "--one-file-system", str(tmp), timeout=300)
    tmp.mkdir()
    try:
        build(tmp)
        os.replace(tmp, home)
    except BaseException:
        _run("rm", "-rf", "--one-file-system", str(tmp), timeout=300)
        raise
    return layout


if __name__ == "__main__":
    print(base_layout())
