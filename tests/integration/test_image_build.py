"""The serving image built for real, as the build pod of workflows/build-container-image.yaml builds it (issue 25
item 3; audit W4, W5).

One session build: the lab's MLflow registers a model version; then the rendered `build` template's two containers run
on this machine (tests/image_build/pod.py): `prepare` (`cxops step build`, the template's command and arguments) writes
the context into the shared volume, and `main` runs the template's own shell script, i.e. `buildctl-daemonless.sh`
starting rootless BuildKit (buildkitd under rootlesskit, runc from Debian) as the template's user and group. BuildKit
builds docker/serving.Dockerfile from that context and pushes the image over plain HTTP to a real registry
(CNCF Distribution) under the template's in-cluster registry name. The test then pulls the image back by the digest
the pod reported, checks version.json in it, unpacks the root filesystem and starts the image's own command from it
(chroot, the image's user, environment and working directory) and asks /version.

Stand-ins, because nothing else can run here:
- the base image: no public registry is reachable, so the Dockerfile's FROM (python:3.11.11-slim-bookworm) is a
  Debian root made by debootstrap and pushed to the same registry as library/python; BuildKit finds it through a
  docker.io mirror in its own configuration file (~/.config/buildkit/buildkitd.toml). How it differs from the
  production base: tests/image_build/base_image.py. The Dockerfile's RUN pip install reaches PyPI as in production.
- the pod: a private mount namespace, not a kubelet. The registry's in-cluster name resolves through that namespace's
  /etc/hosts to a loopback address (cluster DNS in a pod); the registry listens there on the template's port.
- `prepare` runs with the lab's cxops.yaml (its MLflow on 127.0.0.1), not the cluster environment the template sets
  (CXOPS_EXECUTOR, cluster MLflow and S3 URLs, credentials): this test is about the build, not the step wiring.
- BuildKit's XDG_RUNTIME_DIR is /home/user/.run (the image's /run/user/1000 is absent on this machine); the binaries
  are those scripts/install-go-tools builds at the image's versions (BuildKit v0.23.2, rootlesskit v2.3.5); runc is
  Debian's 1.1.5, the image's is 1.3.0.
- the server is started with --host 127.0.0.1 and a free port instead of 0.0.0.0:8080 (servers here bind loopback).
- BuildKit's root is kept between sessions (~/.cache/cxops/buildkit-state, `_buildkit_state`), where the build pod's
  is empty: an unchanged Dockerfile step (its `pip install` of unchanged requirements on the same base) comes from
  BuildKit's content-addressed cache, as on a warm builder; any changed input runs anew. The first build on a
  machine, and a build while another session holds that root, start empty as the pod does.

Needs root, debootstrap, util-linux (unshare, setpriv), uidmap (newuidmap) and runc (scripts/install-test-deps), the
Go tools (scripts/install-go-tools) and the network to PyPI for the image's pip install. First run: ~3 min for the base
(cached under ~/.cache/cxops/build-base/), then a few minutes for the build; the base is reused across sessions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gotools import GoTools
from helpers import free_port
from image_build import base_image, oci

# The first test carries the whole build (the session's lab, the registry, the pod: BUILD_TIMEOUT below and more);
# the suite's 600 s per test cut it off mid-build under `make test`'s workers at load 16-20, and the fixture's
# clean-up then deleted the build's files under BuildKit.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "workflows" / "build-container-image.yaml"
POD = REPO / "tests" / "image_build" / "pod.py"
BUILD_TIMEOUT = 1800  # seconds for the BuildKit container (pip install of the model's requirements included)


def _run(*argv: str, timeout: float = 120, **kw) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if res.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:3])} … exited {res.returncode}: {(res.stderr or res.stdout)[-3000:]}")
    return res.stdout


def _build_template() -> dict:
    wt = yaml.safe_load(TEMPLATE.read_text())
    return next(t for t in wt["spec"]["templates"] if t["name"] == "build")


def _daemonless_script(binary: str) -> str:
    """buildctl-daemonless.sh of the BuildKit release the binaries were built from (the rootless image's
    /usr/bin/buildctl-daemonless.sh), from the Go module cache the build filled."""
    version = next(
        line.split()[2]
        for line in _run("go", "version", "-m", binary).splitlines()
        if line.split()[:2] in (["mod", "github.com/moby/buildkit"], ["dep", "github.com/moby/buildkit"])
    )
    info = json.loads(_run("go", "mod", "download", "-json", f"github.com/moby/buildkit@{version}", timeout=300))
    script = Path(info["Dir"]) / "examples" / "buildctl-daemonless" / "buildctl-daemonless.sh"
    assert script.is_file(), script
    return str(script)


def _loopback_with_port(port: int) -> str:
    """A loopback address whose `port` is free (the registry must listen on the template's port)."""
    for last in range(1, 64):
        address = f"127.0.25.{last}"
        with socket.socket() as s:
            try:
                s.bind((address, port))
            except OSError:
                continue
            return address
    raise AssertionError(f"no free 127.0.25.x:{port}")


def _wait_http(url: str, proc: subprocess.Popen, log: Path, limit: float = 60) -> None:
    """Wait until `url` answers 200; bounded, backing off; fails with the server's log if it exits or never answers."""
    deadline, delay = time.monotonic() + limit, 0.1
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url}: the server exited {proc.returncode}: {log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    raise AssertionError(f"{url} did not answer 200 within {limit}s: {log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@dataclass
class Built:
    """What the pod left in its volume, and where the registry listens."""

    outputs: Path  # the template's OUT_DIR, in the volume
    context: Path  # the build's context, in the volume
    registry_url: str  # http://<loopback>:<port> (the in-cluster name resolves there inside the pod)
    push_registry: str  # the template's PUSH_REGISTRY


def _buildkit_state(uid: int, gid: int) -> tuple[Path | None, Any]:
    """BuildKit's root for this session's build: a per-machine directory kept between sessions
    (${XDG_CACHE_HOME:-~/.cache}/cxops/buildkit-state), so a build whose inputs are unchanged takes its layers from
    BuildKit's own content-addressed cache, as a warm builder would (the Dockerfile's `pip install` layer, keyed by
    the base image and requirements-serving.txt, is the slow one); a changed input builds anew. Returns (the
    directory, the open lock file that reserves it until closed), or (None, None) when another session's build holds
    it: that build then starts from an empty root, as the build pod does."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cxops"
    cache.mkdir(parents=True, exist_ok=True)
    lock = (cache / "buildkit-state.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None, None
    state = cache / "buildkit-state"
    state.mkdir(exist_ok=True)
    os.chown(state, uid, gid)
    return state, lock


@pytest.fixture(scope="module")
def registry(cfg, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real registry where the template's push goes; yields (its URL, the host[:port] the template pushes to).

    That is PUSH_REGISTRY when the template sets it, else the host of the image's own name (serving.image_registry);
    a name without a port is served on 443, where BuildKit would look for it (over HTTPS; this registry speaks HTTP)."""
    from cxops import names

    main = next(c for c in _build_template()["containerSet"]["containers"] if c["name"] == "main")
    env = {e["name"]: e.get("value", "") for e in main["env"]}
    push_registry = env.get("PUSH_REGISTRY") or names.registry_host(cfg)
    port = int(push_registry.rsplit(":", 1)[1]) if ":" in push_registry else 443
    address = _loopback_with_port(port)
    home = tmp_path_factory.mktemp("registry")
    config = {
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(home / "data")}},
        "http": {"addr": f"{address}:{port}"},
        "log": {"level": "info"},
    }
    (home / "config.yml").write_text(yaml.safe_dump(config))
    log = home / "registry.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [GoTools()["registry"], "serve", str(home / "config.yml")],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://{address}:{port}"
        _wait_http(f"{url}/v2/", proc, log)
        yield url, push_registry
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def built(cfg, lab: Path, registry: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Register a version, then run the build pod as the template wires it. Once per session."""
    from cxops.pipeline.local import step_function

    registry_url, push_registry = registry
    # the base the Dockerfile names, pushed where BuildKit's docker.io mirror points
    dockerfile_from = next(
        line.split()[1]
        for line in (REPO / "docker/serving.Dockerfile").read_text().splitlines()
        if line.startswith("FROM")
    )
    assert dockerfile_from == base_image.REFERENCE, "the made-here base no longer stands for the Dockerfile's FROM"
    name, tag = base_image.REFERENCE.split(":")
    oci.push_layout(registry_url, base_image.base_layout(), f"library/{name}", tag)

    run_id = step_function("train")(cfg).run_id
    assert step_function("evaluate")(cfg, run_id).passed
    version = step_function("register")(cfg, run_id).version

    template = _build_template()
    containers = {c["name"]: c for c in template["containerSet"]["containers"]}
    prepare, main = containers["prepare"], containers["main"]
    fs_group = (template.get("securityContext") or {}).get("fsGroup")
    groups = [fs_group] if fs_group is not None else []
    state_dir = template["containerSet"]["volumeMounts"][0]["mountPath"]  # /home/cxops/.cxops
    main_env = {e["name"]: e["value"] for e in main["env"]}

    tools = GoTools()
    work = tmp_path_factory.mktemp("build-pod")
    volume = work / "volume"  # the pod's emptyDir
    volume.mkdir()
    if fs_group is None:
        volume.chmod(0o777)
    else:
        os.chown(volume, 0, fs_group)
        volume.chmod(0o2777)
    bk_uid, bk_gid = main["securityContext"]["runAsUser"], main["securityContext"]["runAsGroup"]
    bk_home = work / "buildkit-home"  # /home/user of the rootless BuildKit image
    (bk_home / ".config" / "buildkit").mkdir(parents=True)
    mirror = registry_url.removeprefix("http://")
    (bk_home / ".config" / "buildkit" / "buildkitd.toml").write_text(
        f'[registry."docker.io"]\n  mirrors = ["{mirror}"]\n[registry."{mirror}"]\n  http = true\n'
    )
    (bk_home / ".run").mkdir(mode=0o700)
    (bk_home / ".local" / "share" / "buildkit").mkdir(parents=True)  # BuildKit's root: the cache below is bound here
    docker_config = work / "docker-config"  # the template's registry-auth Secret: no credentials for this registry
    docker_config.mkdir()
    (docker_config / "config.json").write_text('{"auths": {}}')
    # the module cache keeps files read-only, without the exec bit the image gives the script
    (bk_home / "bin").mkdir()
    shutil.copyfile(_daemonless_script(tools["buildctl"]), bk_home / "bin" / "buildctl-daemonless.sh")
    (bk_home / "bin" / "buildctl-daemonless.sh").chmod(0o755)
    _run("chown", "-R", f"{bk_uid}:{bk_gid}", str(bk_home))
    state, state_lock = _buildkit_state(bk_uid, bk_gid)
    etc = work / "etc"
    etc.mkdir()
    (etc / "hosts").write_text(f"127.0.0.1 localhost\n{mirror.split(':')[0]} {push_registry.split(':')[0]}\n")
    (etc / "subid").write_text(f"{bk_uid}:100000:65536\n")
    config = work / "cxops.yaml"
    shutil.copyfile(lab, config)
    config.chmod(0o644)

    home_cxops = str(Path(state_dir).parent)
    python_home = Path(sys.base_prefix).resolve()
    spec = {
        "python_home": "/root/" + python_home.parts[2] if python_home.parts[1] == "root" else None,
        "staging": str(work / "staging"),
        "binds": {
            state_dir: str(volume),
            f"{home_cxops}/cxops.yaml": str(config),
            "/home/user": str(bk_home),  # the rootless image's HOME (bound before the paths below it)
            "/home/user/bin/buildkitd": str(tools["buildkitd"]),
            "/home/user/bin/buildctl": str(tools["buildctl"]),
            "/home/user/bin/rootlesskit": str(tools["rootlesskit"]),
            main_env["DOCKER_CONFIG"]: str(docker_config),
            **({"/home/user/.local/share/buildkit": str(state)} if state else {}),
        },
        "owners": {home_cxops: [prepare["securityContext"]["runAsUser"]] * 2},
        "etc": {"/etc/hosts": str(etc / "hosts"), "/etc/subuid": str(etc / "subid"), "/etc/subgid": str(etc / "subid")},
        "containers": [],
    }
    (work / "staging").mkdir()

    def setpriv_flags(c: dict) -> list[str]:
        sc = c.get("securityContext") or {}
        flags = []
        if "ALL" in ((sc.get("capabilities") or {}).get("drop") or []):
            flags.append("--bounding-set=-all")
        if sc.get("allowPrivilegeEscalation") is False:
            flags.append("--no-new-privs")
        return flags

    venv_bin = str(Path(sys.executable).parent)
    args = [a.replace("{{inputs.parameters.version}}", str(version)) for a in prepare["args"]]
    uid = prepare["securityContext"]["runAsUser"]
    spec["containers"] = [
        {
            "name": "prepare",
            "uid": uid,
            "gid": prepare["securityContext"].get("runAsGroup", uid),  # tools.Dockerfile: USER 10001:10001
            "groups": groups,
            "setpriv": setpriv_flags(prepare),
            "command": [*prepare["command"], *args],
            "env": {
                "CXOPS_CONFIG": f"{home_cxops}/cxops.yaml",  # the tools image's ENV
                "HOME": home_cxops,
                "PATH": f"{venv_bin}:/usr/bin:/bin",
                "LANG": "C.UTF-8",
            },
            "cwd": home_cxops,
            "log": str(work / "prepare.log"),
            "timeout": 900,
        },
        {
            "name": "main",
            "uid": bk_uid,
            "gid": bk_gid,
            "groups": groups,
            "setpriv": setpriv_flags(main),
            "command": [*main["command"], *main.get("args", [])],
            "env": {
                **main_env,
                "HOME": "/home/user",  # the rootless image's ENV, but XDG_RUNTIME_DIR (see the module)
                "USER": "user",
                "XDG_RUNTIME_DIR": "/home/user/.run",
                "PATH": "/home/user/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            },
            "cwd": "/home/user",
            "log": str(work / "buildkit.log"),
            "timeout": BUILD_TIMEOUT,
        },
    ]
    (work / "spec.json").write_text(json.dumps(spec))
    try:  # BuildKit's state (GBs, owned by subordinate ids) and the volume go, whatever the outcome
        res = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", sys.executable, str(POD), str(work / "spec.json")],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT + 960,
        )
        assert res.returncode == 0, f"the pod runner failed: {res.stderr[-3000:]}"
        codes = json.loads(res.stdout.strip().splitlines()[-1])
        for c in spec["containers"]:
            log = Path(c["log"]).read_text() if Path(c["log"]).exists() else ""
            assert codes.get(c["name"]) == 0, f"container {c['name']} exited {codes.get(c['name'])}:\n{log[-4000:]}"
        outputs = volume / "outputs"
        context = volume / Path((outputs / "path").read_text()).relative_to(state_dir)
        yield Built(outputs, context, registry_url, push_registry)
    finally:
        _run("rm", "-rf", "--one-file-system", str(bk_home), str(volume), timeout=300)
        if state_lock is not None:
            state_lock.close()  # the next session's build may use the state


def _pushed(built: Built) -> tuple[str, str, str]:
    """(repository, tag, digest) the pod pushed: the image's name under the in-cluster registry."""
    image = (built.outputs / "image").read_text()
    digest = (built.outputs / "image_digest").read_text()
    repository, tag = image.split("/", 1)[1].rsplit(":", 1)
    return repository, tag, digest


def test_build_pod_pushes_under_the_cluster_name_and_reports_the_digest(built: Built):
    image = (built.outputs / "image").read_text()
    repository, tag, digest = _pushed(built)
    assert digest.startswith("sha256:") and len(digest) == 71, digest
    assert (built.outputs / "image_ref").read_text() == f"{image}@{digest}"
    # the tag the pod pushed (under PUSH_REGISTRY) resolves to the digest it reported
    res = httpx.head(
        f"{built.registry_url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": ", ".join((*oci.MANIFEST_TYPES, *oci.INDEX_TYPES))},
        timeout=30,
    )
    assert res.status_code == 200, res
    assert res.headers["Docker-Content-Digest"] == digest


@pytest.fixture(scope="module")
def rootfs(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """The image pulled back by digest and unpacked; (root filesystem, image config)."""
    repository, _, digest = _pushed(built)
    config, layers = oci.pull(built.registry_url, repository, digest)
    root = tmp_path_factory.mktemp("pulled") / "rootfs"
    oci.unpack(layers, root)
    try:
        yield root, config
    finally:
        _run("rm", "-rf", "--one-file-system", str(root), timeout=300)


def test_pulled_image_carries_the_builds_version_json(built: Built, rootfs: tuple[Path, dict]):
    root, config = rootfs
    pulled = json.loads((root / "srv" / "model" / "version.json").read_text())
    assert pulled == json.loads((built.context / "version.json").read_text())
    assert config["config"]["User"] == "10001:10001"


def test_server_from_the_pulled_root_answers_version(built: Built, rootfs: tuple[Path, dict], tmp_path: Path):
    root, config = rootfs
    image = config["config"]
    port = free_port()
    argv = list(image["Cmd"])
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    env = ["env", "-i", *image.get("Env", [])]
    uid, gid = image["User"].split(":")
    # a private mount namespace gives the root its /proc and /dev as a runtime would; the mounts die with it
    script = 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && shift && exec "$@"'
    chroot = ["chroot", f"--userspec={uid}:{gid}", str(root), "sh", "-c", f'cd {image["WorkingDir"]} && exec "$@"', "-"]
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "-",
                str(root),
                *chroot,
                *env,
                *argv,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/version", proc, log, limit=120)
        answer = httpx.get(f"http://127.0.0.1:{port}/version", timeout=10).json()
    finally:
        _stop(proc)
    lineage = json.loads((built.context / "version.json").read_text())
    build = json.loads((built.context.parent / "build.json").read_text())
    assert str(answer["version"]) == str(lineage["version"]), answer
    assert answer.get("model_digest") == build["model_digest"], answer
