"""kubectl as cxops calls it: the `CXOPS_KUBECTL` program (default `kubectl` on PATH) with the kubeconfig `cxops
cluster kubeconfig` wrote (<lab.state_dir>/cluster/kubeconfig) unless `KUBECONFIG` is set, a bounded wait, and one
line for each way it fails. Manifests go on stdin, so a Secret's value is never in a process's arguments."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from cxops.errors import CxopsError
from cxops.settings import settings

KUBECTL_TIMEOUT_S = 30
# what kubectl says when nothing answers at the server's address (the API tunnel closed, the cluster gone)
_DOWN = re.compile(r"connection refused|Unable to connect to the server|i/o timeout|no such host|no route to host")


def default_kubeconfig(state: Path) -> Path | None:
    """The kubeconfig `cxops cluster kubeconfig` writes under the state directory STATE, when it exists."""
    path = state / "cluster" / "kubeconfig"
    return path if path.exists() else None


def run(args: list[str], kubeconfig: Path | None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`kubectl ARGS` (with `--kubeconfig KUBECONFIG` unless $KUBECONFIG is set); the finished process, whatever its
    exit status. CxopsError when kubectl is missing, when it does not finish in KUBECTL_TIMEOUT_S seconds, or when
    the API server is down (nothing answers: "down", never "not found")."""
    env = settings()
    kubectl = env.kubectl or shutil.which("kubectl")
    if not kubectl:
        raise CxopsError("kubectl not found: install it or set CXOPS_KUBECTL")
    argv = [kubectl, *args]
    if kubeconfig is not None and env.kubeconfig is None:
        argv[1:1] = ["--kubeconfig", str(kubeconfig)]
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CxopsError(f"kubectl did not answer in {KUBECTL_TIMEOUT_S}s (is the API tunnel open?)") from None
    if proc.returncode != 0 and _DOWN.search(proc.stderr):
        raise CxopsError(
            f"the cluster's API server is down (kubectl: {first_line(proc.stderr)}); open the tunnel that "
            "`cxops cluster kubeconfig` prints"
        )
    return proc


def first_line(text: str) -> str:
    """The first non-empty line of kubectl's output, or "no output"."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")
