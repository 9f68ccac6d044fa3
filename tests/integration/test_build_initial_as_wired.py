"""`build-initial` executed as the rendered YAML wires it, as far as it can run here (issue 25 item 4): the
workflow's arguments into the template's inputs, the inputs into its container's env, and the container's own shell
script running BuildKit's `buildctl-daemonless.sh build` with them, so that BuildKit itself fetches the repository
from a git server at the revision given (`context=$REPO_URL#$REVISION`) and reads docker/tools.Dockerfile from it.
tests/argo_interpreter.py says what of Argo it does not model.

Real: the template's script under `sh`, with the template's env (BUILDKITD_FLAGS, REPO_URL, REVISION, IMAGE,
MODEL_REQUIREMENTS) substituted from the inputs; `buildctl-daemonless.sh` of BuildKit v0.23.2 (the rootless
image's /usr/bin one, from the Go module cache) starting buildkitd v0.23.2 and running buildctl v0.23.2
(scripts/install-go-tools builds them); a git server (`git daemon`) serving a clone of this repository, reached by
a Service name through the pod network of tests/pod_network.py, with BuildKit's own state in directories of the
pod's own (tmpfs).

Where it stops, and what is not modelled:
- The base image: the Dockerfile's FROM (python:3.11.11-slim-bookworm) cannot be resolved (no public registry is
  reachable from the pod network). The test asserts the build fails exactly there, after BuildKit fetched the
  revision and parsed the Dockerfile. Building on from a debootstrap base as tests/integration/test_image_build.py
  does would add the tools image's apt-get and the pip install of the whole requirements.lock, about that module's
  ten minutes again on the suite's critical path (issue 28); so the image's layers, the push (the registry-auth
  Secret, the registry's in-cluster name) and `cxops --version` in the image are not run here.
- The repository's `ansible/kubespray` submodule: BuildKit clones submodules of a git context, and this one comes
  from github.com, which is not reachable here. The served revision is this repository's HEAD with that submodule
  removed (its own branch); in a cluster that reaches GitHub, BuildKit clones it (it is not needed by the image).
- Rootless: the step runs as root of its user namespace, so `buildctl-daemonless.sh` starts buildkitd without
  rootlesskit (the template's uid 1000 in the rootless image uses rootlesskit; test_image_build.py runs that path).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from argo_interpreter import Interpreter, manifests, process_env
from gotools import GoTools
from helpers import free_port
from pod_network import PodNetwork

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GIT_HOST = "git.cxops-test.svc.cluster.local"  # a Service in front of the git server
BRANCH = "build-initial-test"
BASE = "docker.io/library/python:3.11.11-slim-bookworm"


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`git daemon` on 127.0.0.1 serving `cxops.git`: this repository's HEAD without the kubespray submodule on
    branch BRANCH; yields its port."""
    root = tmp_path_factory.mktemp("git-server")
    work = root / "work"
    subprocess.run(["git", "clone", "-q", str(REPO), str(work)], check=True, timeout=120)
    git = ["git", "-C", str(work), "-c", "user.name=cxops-test", "-c", "user.email=cxops-test@example.org"]
    subprocess.run([*git, "checkout", "-q", "-b", BRANCH], check=True, timeout=30)
    subprocess.run([*git, "rm", "-q", "--cached", "ansible/kubespray"], check=True, timeout=30)
    subprocess.run([*git, "rm", "-q", ".gitmodules"], check=True, timeout=30)
    subprocess.run([*git, "commit", "-qm", "without the kubespray submodule (github.com)"], check=True, timeout=30)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "cxops.git")], check=True, timeout=120)
    port = free_port()
    argv = ["git", "daemon", "--listen=127.0.0.1", f"--port={port}", f"--base-path={root}", "--export-all"]
    proc = subprocess.Popen([*argv, "--reuseaddr", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from cxops.waiting import wait_until

        def listening() -> bool:
            res = subprocess.run(
                ["git", "ls-remote", f"git://127.0.0.1:{port}/cxops.git", BRANCH], capture_output=True, timeout=10
            )
            return res.returncode == 0 and bool(res.stdout)

        wait_until(listening, timeout=30, what="git daemon")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def image_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PATH as the rootless BuildKit image has it: buildctl-daemonless.sh, buildkitd and buildctl first."""
    from integration.test_image_build import _daemonless_script

    tools = GoTools()
    bin_dir = tmp_path_factory.mktemp("buildkit-image") / "bin"
    bin_dir.mkdir()
    for name in ("buildkitd", "buildctl"):
        (bin_dir / name).symlink_to(tools[name])
    script = bin_dir / "buildctl-daemonless.sh"  # the module cache's copy is read-only, the image's executable
    shutil.copyfile(_daemonless_script(tools["buildctl"]), script)
    script.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def _run(git_port: int, path: str, arguments: dict[str, str], templates: dict | None = None):
    services: dict[str, tuple[int, int | None]] = {GIT_HOST: (9418, git_port)}
    with PodNetwork(services, tmpfs=("/run", "/var/lib/buildkit")) as net:
        interp = Interpreter(process_env({"PATH": path}), {}, deadline=300, templates=templates, launcher=net.launcher)
        return interp.run("build-initial", arguments)


def test_buildkit_fetches_the_revision_and_reads_the_tools_dockerfile(git_server: int, image_path: str) -> None:
    """The workflow's repo_url and revision reach BuildKit as the git context: it fetches that revision, reads
    docker/tools.Dockerfile from it and stops at the base image, which no registry here serves."""
    result = _run(git_server, image_path, {"repo_url": f"git://{GIT_HOST}/cxops.git", "revision": BRANCH})
    [node] = result.nodes
    stderr = node.stderr  # type: ignore[attr-defined]
    assert result.exit_handler is None  # build-initial has none: it would run in the image it builds
    assert (node.phase, node.exit_code) == ("Failed", "1"), stderr[-3000:]
    assert f"failed to resolve source metadata for {BASE}" in stderr, stderr[-3000:]
    assert ">>> FROM python:3.11.11-slim-bookworm" in stderr  # the tools Dockerfile, read from the fetched revision


def test_a_revision_wired_wrongly_never_reaches_the_dockerfile(git_server: int, image_path: str) -> None:
    """A copy of the rendered YAML whose REVISION reads the repository URL: BuildKit fetches nothing of the kind
    and the build fails before any Dockerfile is read (the mutation docs/workflows.md records)."""
    templates = copy.deepcopy(manifests())
    [t] = [t for t in templates["build-initial"]["spec"]["templates"] if t["name"] == "build-tools-image"]
    [rev] = [e for e in t["container"]["env"] if e["name"] == "REVISION"]
    rev["value"] = "{{inputs.parameters.repo_url}}"
    result = _run(git_server, image_path, {"repo_url": f"git://{GIT_HOST}/cxops.git", "revision": BRANCH}, templates)
    [node] = result.nodes
    stderr = node.stderr  # type: ignore[attr-defined]
    assert node.phase == "Failed" and "error: failed to solve" in stderr, stderr[-3000:]  # BuildKit ran, and failed
    assert "failed to resolve source metadata" not in stderr and "FROM python" not in stderr, stderr[-3000:]
