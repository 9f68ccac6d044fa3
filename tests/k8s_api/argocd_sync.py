"""A sync of the app-of-apps done the way ArgoCD does it, against a real API server.

For each Application (sync-wave order, then name, as ArgoCD orders the root app's children):
  * render its source with the tool ArgoCD would use: `kustomize build` (v5.8.1, ArgoCD v3.4.4's) for our
    trees, a plain directory read for trees without a kustomization, `helm template` for charts with our values
    files (v3.19.4, the helm ArgoCD v3.4.4 bundles; `--include-crds`
    unless `helm.skipCrds`, the cluster's Kubernetes version and API versions);
  * give namespaced objects without a namespace the Application's destination namespace;
  * check every object against the AppProject where ArgoCD's permission check would refuse it: a namespaced
    object's namespace must be a destination, a cluster-scoped kind must be in clusterResourceWhitelist. A
    refusal fails the whole Application and nothing of it is applied, as in ArgoCD;
  * `CreateNamespace=true`: create the destination namespace;
  * apply client-side (`kubectl apply`, which stores last-applied-configuration) unless the Application sets
    `ServerSideApply=true` (then `kubectl apply --server-side --force-conflicts`); Namespaces and CRDs first,
    then the rest once the CRDs are Established.

Admission webhook configurations are checked by a server-side dry run and not stored: no webhook server runs here
(no pods), and a registered webhook nobody answers would refuse every later object it matches.
This is not ArgoCD itself (the proxy does not build its gitops-engine; see docs/platform.md); it applies what
ArgoCD would apply with the same apply mode and refusal rules.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import REPO
from k8s_api import upstream

KUBE_VERSION = "1.35.4"
WEBHOOK_KINDS = {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
FIRST_KINDS = {"Namespace", "CustomResourceDefinition"}


@dataclass
class App:
    """One Application as ArgoCD reads it."""

    name: str
    wave: int
    namespace: str
    sync_options: list[str]
    spec: dict[str, Any]

    @property
    def server_side(self) -> bool:
        """True when the Application sets `ServerSideApply=true`."""
        return "ServerSideApply=true" in self.sync_options


@dataclass
class Result:
    """What one sync of one Application did: refusals (AppProject) and apply errors; empty lists = Synced."""

    app: str
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    checked: str = "all"  # or what upstream.NOT_FROM_MODULES says
    crds_server_side: bool | None = None  # a chart that installs its CRDs itself, server-side (a hook Job)


@dataclass
class Synced:
    """The state after the install's own cluster steps and one sync of the app-of-apps."""

    prerequisites: list[str]  # error lines of what Kubespray and the ArgoCD install apply, empty = applied
    project: dict[str, Any]
    apps: list[App]
    results: dict[str, Result]


class Kubectl:
    """kubectl (v1.35.4, built by scripts/install-go-tools) against one kubeconfig."""

    def __init__(self, binary: Path, kubeconfig: Path, kustomize: Path) -> None:
        self.binary, self.kubeconfig, self.kustomize = binary, kubeconfig, kustomize

    def run(self, *args: str, stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run kubectl; the result is returned whatever the exit status."""
        argv = [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)

    def scopes(self) -> dict[tuple[str, str], bool]:
        """(group, kind) → namespaced, from the API server's discovery."""
        out = self.run("api-resources", "--no-headers", "-o", "wide")
        assert out.returncode == 0, out.stderr
        scopes = {}
        for line in out.stdout.splitlines():
            parts = line.split()
            # NAME [SHORTNAMES] APIVERSION NAMESPACED KIND VERBS...
            i = next(i for i, p in enumerate(parts) if p in ("true", "false"))
            group = parts[i - 1].rpartition("/")[0]
            scopes[(group, parts[i + 1])] = parts[i] == "true"
        return scopes


def docs(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a stream."""
    return upstream.load_all(text)


def group_of(obj: dict[str, Any]) -> str:
    """The API group of an object ('' for core)."""
    api = str(obj["apiVersion"])
    return api.rpartition("/")[0]


def kustomize(kubectl: Kubectl, directory: Path) -> list[dict[str, Any]]:
    """`kustomize build` (v5.8.1, ArgoCD's), or the YAML files of a plain directory (ArgoCD's directory source)."""
    if not (directory / "kustomization.yaml").exists():
        return [d for f in sorted(directory.glob("*.yaml")) for d in docs(f.read_text())]
    argv = [str(kubectl.kustomize), "build", str(directory)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"kustomize {directory}: {out.stderr}"
    return docs(out.stdout)


def applications(kubectl: Kubectl) -> tuple[list[dict[str, Any]], dict[str, Any], list[App]]:
    """The root app's render (k8s/argocd), its AppProject, and every child Application in sync order (the
    serving ApplicationSet's list generator expanded into its Applications)."""
    objs = kustomize(kubectl, REPO / "k8s" / "argocd")
    [project] = [o for o in objs if o["kind"] == "AppProject"]
    apps = [o for o in objs if o["kind"] == "Application" and "root" not in o["metadata"]["name"]]
    for appset in (o for o in objs if o["kind"] == "ApplicationSet"):
        for element in appset["spec"]["generators"][0]["list"]["elements"]:
            text = json.dumps(appset["spec"]["template"])
            for key, value in element.items():
                text = text.replace("{{." + key + "}}", value)
            apps.append({"kind": "Application", **json.loads(text)})
    out = [
        App(
            a["metadata"]["name"],
            int(a["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0")),
            a["spec"]["destination"]["namespace"],
            a["spec"].get("syncPolicy", {}).get("syncOptions", []),
            a["spec"],
        )
        for a in apps
    ]
    return objs, project, sorted(out, key=lambda a: (a.wave, a.name))


def _helm_chart(chart: str, version: str, work: Path) -> Path | None:
    if chart == "cert-manager" and version == upstream.CERT_MANAGER[1]:
        return upstream.cert_manager_chart(work)
    if chart in ("gateway-helm", "gateway-crds-helm") and version == upstream.ENVOY_GATEWAY[1]:
        return upstream.envoy_gateway_chart(work, chart)
    if chart == "nvidia-device-plugin" and version == upstream.NVIDIA_DEVICE_PLUGIN[1].removeprefix("v"):
        return upstream.nvidia_device_plugin_chart(work)
    return None


def render(kubectl: Kubectl, helm: Path, app: App, work: Path) -> Result:
    """The objects ArgoCD would apply for `app` (see the module docstring); `checked` says what was left out."""
    result = Result(app.name)
    sources = app.spec.get("sources") or [app.spec["source"]]
    for source in sources:
        if "ref" in source:
            continue
        if "chart" not in source and not source["repoURL"].startswith("oci://"):
            result.objects += kustomize(kubectl, REPO / source["path"])  # our repository's tree
            continue
        chart = source.get("chart") or source["repoURL"].rstrip("/").rpartition("/")[2]
        version = source["targetRevision"]
        chart_dir = _helm_chart(chart, version, work / app.name)
        if chart_dir is None:
            result.checked = upstream.NOT_FROM_MODULES.get(chart, f"not checked: no Go module carries {chart}")
            result.objects += _crds_instead(chart)
            result.crds_server_side = True if chart == "argo-workflows" else None
            continue
        helm_cfg = source.get("helm", {})
        argv = [str(helm), "template", helm_cfg.get("releaseName", app.name), str(chart_dir)]
        argv += ["--namespace", app.namespace, "--kube-version", KUBE_VERSION]
        if not helm_cfg.get("skipCrds"):
            argv.append("--include-crds")
        for vf in helm_cfg.get("valueFiles", []):
            argv += ["--values", str(REPO / vf.removeprefix("$values/"))]
        api = kubectl.run("api-versions")
        for version_line in api.stdout.split():
            argv += ["--api-versions", version_line]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, f"helm template {chart} {version}: {out.stderr}"
        result.objects += docs(out.stdout)
    return result


def _crds_instead(chart: str) -> list[dict[str, Any]]:
    if chart == "cloudnative-pg":
        return upstream.crd_files(upstream.CLOUDNATIVE_PG, "config/crd/bases")
    if chart == "kube-prometheus-stack":
        return upstream.crd_files(upstream.PROMETHEUS_OPERATOR, "example/prometheus-operator-crd")
    if chart == "argo-workflows":
        return upstream.crd_files(upstream.ARGO_WORKFLOWS, "manifests/base/crds/full")
    return []


def refusals(project: dict[str, Any], objs: list[dict[str, Any]], scopes: dict[tuple[str, str], bool]) -> list[str]:
    """Where ArgoCD's permission check refuses an object of this project (one line each, ArgoCD's wording)."""
    name = project["metadata"]["name"]
    allowed_ns = {d["namespace"] for d in project["spec"].get("destinations", [])}
    whitelist = {(w["group"], w["kind"]) for w in project["spec"].get("clusterResourceWhitelist", [])}
    out = []
    for obj in objs:
        key = (group_of(obj), obj["kind"])
        ident = f"{obj['kind']}/{obj['metadata']['name']}"
        if scopes.get(key, True):
            ns = obj["metadata"].get("namespace")
            if ns not in allowed_ns and "*" not in allowed_ns:
                out.append(f"{ident}: namespace {ns} is not permitted in project '{name}'")
        elif key not in whitelist and ("*", "*") not in whitelist:
            out.append(f"{ident}: resource {key[0]}:{key[1]} is not permitted in project '{name}'")
    return out


def _scopes_with(objs: list[dict[str, Any]], scopes: dict[tuple[str, str], bool]) -> dict[tuple[str, str], bool]:
    """Discovery plus the CRDs in this render (ArgoCD learns their scope from the CRD in the same sync)."""
    merged = dict(scopes)
    for crd in (o for o in objs if o["kind"] == "CustomResourceDefinition"):
        merged[(crd["spec"]["group"], crd["spec"]["names"]["kind"])] = crd["spec"]["scope"] == "Namespaced"
    return merged


@contextlib.contextmanager
def _manifest(objs: list[dict[str, Any]]) -> Iterator[str]:
    """The objects as one JSON `List` file for `kubectl -f` (kubectl applies each item, as for a YAML stream; JSON is
    written and read far faster than YAML, and the CRDs here are about 20 MB)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": objs}, f)
        f.flush()
        yield f.name


def apply(kubectl: Kubectl, objs: list[dict[str, Any]], server_side: bool, dry_run: bool = False) -> list[str]:
    """Apply objects as ArgoCD's sync does (see the module docstring); the error lines, empty on success."""
    if not objs:
        return []
    with _manifest(objs) as path:
        argv = ["apply", "-f", path]
        if server_side:
            argv += ["--server-side", "--force-conflicts", "--field-manager=argocd-controller"]
        if dry_run:
            argv.append("--dry-run=server")
        out = kubectl.run(*argv)
    if not out.returncode:
        return []
    # kubectl repeats the whole patch (a CRD: hundreds of KB) in its error; keep the lines that say what failed
    return [line[:400] for line in out.stderr.splitlines() if line.strip() and not line.startswith("{")]


def diff(kubectl: Kubectl, objs: list[dict[str, Any]], server_side: bool) -> str:
    """`kubectl diff` of the objects against the live state ('' = nothing would change)."""
    with _manifest(objs) as path:
        argv = ["diff", "-f", path] + (["--server-side", "--force-conflicts"] if server_side else [])
        argv += ["--field-manager=argocd-controller"] if server_side else []
        out = kubectl.run(*argv)
    assert out.returncode in (0, 1), f"kubectl diff: {out.stderr}"
    return out.stdout


def sync(kubectl: Kubectl, project: dict[str, Any], app: App, result: Result) -> Result:
    """Check and apply one rendered Application; fills `result.refused` / `result.errors`."""
    scopes = _scopes_with(result.objects, kubectl.scopes())
    for obj in result.objects:
        if scopes.get((group_of(obj), obj["kind"]), True):
            obj["metadata"].setdefault("namespace", app.namespace)
    result.refused = refusals(project, result.objects, scopes)
    if result.refused:
        return result  # ArgoCD: "one or more synchronization tasks are not valid", nothing applied
    if "CreateNamespace=true" in app.sync_options and kubectl.run("get", "namespace", app.namespace).returncode:
        created = kubectl.run("create", "namespace", app.namespace)
        result.errors += [created.stderr.strip()] if created.returncode else []
    if result.errors:
        return result
    # ArgoCD retries a failed sync as the Application's syncPolicy.retry says; here only when every error is the API
    # server running out of time (seen under `make test`'s load: a 1 MB CRD's apply past the server's 60 s), so a
    # refusal still fails at once
    delays = retry_delays(app)
    while True:
        result.errors = _apply_all(kubectl, app, result)
        if not result.errors or not delays or not all(TRANSIENT.search(e) for e in result.errors):
            return result
        time.sleep(delays.pop(0))


# what the API server answers when it, or etcd under it, ran out of time: nothing about the objects
TRANSIENT = re.compile(r"\(Timeout\)|\(ServiceUnavailable\)|etcdserver: request timed out|context deadline exceeded")


def retry_delays(app: App) -> list[float]:
    """The waits (seconds) between sync attempts that the Application's syncPolicy.retry allows: `limit` of them,
    `backoff.duration` growing by `backoff.factor` up to `backoff.maxDuration` (ArgoCD's defaults 5 s, 2, 3 m).
    No retry block: none."""
    retry = (app.spec.get("syncPolicy") or {}).get("retry")
    if not retry:
        return []
    backoff = retry.get("backoff") or {}
    delay, factor = _seconds(backoff.get("duration", "5s")), float(backoff.get("factor", 2))
    cap = _seconds(backoff.get("maxDuration", "3m"))
    delays = []
    for _ in range(int(retry.get("limit", 0))):
        delays.append(min(delay, cap))
        delay *= factor
    return delays


def _seconds(text: str | int) -> float:
    """ "10s", "5m", "1h" or a number of seconds."""
    value = str(text)
    units = {"s": 1, "m": 60, "h": 3600}
    return float(value[:-1]) * units[value[-1]] if value[-1] in units else float(value)


def _apply_all(kubectl: Kubectl, app: App, result: Result) -> list[str]:
    """One sync attempt: the CRDs and namespaces first (then wait until the CRDs are Established), the rest, then the
    webhook configurations as a server-side dry run; the error lines."""
    first = [o for o in result.objects if o["kind"] in FIRST_KINDS]
    hooks = [o for o in result.objects if o["kind"] in WEBHOOK_KINDS]
    rest = [o for o in result.objects if o["kind"] not in FIRST_KINDS | WEBHOOK_KINDS]
    crds_server_side = app.server_side if result.crds_server_side is None else result.crds_server_side
    errors = apply(kubectl, first, crds_server_side)
    crds = [o["metadata"]["name"] for o in first if o["kind"] == "CustomResourceDefinition"]
    if crds and not errors:
        errors += wait_established(kubectl, crds)
    errors += apply(kubectl, rest, app.server_side)
    errors += apply(kubectl, hooks, app.server_side, dry_run=True)
    return errors


def wait_established(kubectl: Kubectl, crds: list[str], timeout: float = 60.0) -> list[str]:
    """Wait (bounded, with backoff) until every named CRD is Established; the error line, empty on success.
    (`kubectl wait` gives up at once on a CRD whose status has no conditions yet.)"""
    deadline, delay, pending = time.monotonic() + timeout, 0.2, set(crds)
    while pending:
        out = kubectl.run("get", "crd", *sorted(pending), "-o", "json")
        data = json.loads(out.stdout) if out.returncode == 0 else {}
        items = data.get("items", [data] if data else [])  # one name: the object itself, not a List
        for crd in items:
            conditions = crd.get("status", {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                pending.discard(crd["metadata"]["name"])
        if pending and time.monotonic() > deadline:
            return [f"CRDs not Established within {timeout:.0f}s: {', '.join(sorted(pending))}"]
        if pending:
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
    return []


def stored(result: Result) -> list[dict[str, Any]]:
    """The objects of a sync that are kept in the API server (webhook configurations are only dry-run)."""
    return [o for o in result.objects if o["kind"] not in WEBHOOK_KINDS]


def unavailable(kubectl: Kubectl, kind: str, objs: list[dict[str, Any]]) -> dict[str, str]:
    """Which of these Deployments/StatefulSets are not yet available: "namespace/name" → status summary."""
    out = {}
    for obj in (o for o in objs if o["kind"] == kind):
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        got = kubectl.run("get", kind.lower(), name, "-n", ns, "-o", "json")
        if got.returncode:
            out[f"{ns}/{name}"] = got.stderr.strip()
            continue
        live = json.loads(got.stdout)
        want = live["spec"].get("replicas", 1)
        ready = live.get("status", {}).get("availableReplicas" if kind == "Deployment" else "readyReplicas", 0)
        if ready < want:
            out[f"{ns}/{name}"] = f"{ready}/{want} ready"
    return out
