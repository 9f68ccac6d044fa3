"""The GitOps platform ArgoCD syncs (k8s/argocd, k8s/platform), rendered from cxops.yaml by `cxops k8s render`.

No Kubernetes API server can run on this machine (nor ArgoCD, nor Helm against a cluster), so nothing here is
applied. What can be checked without one is checked for real: the committed files equal what the code renders;
every kustomization under k8s/ renders with the real kustomize (kubectl's, from the pinned wheel); every plain
object validates strictly against Kubernetes 1.33's OpenAPI schema (kubernetes-validate); every ArgoCD, Gateway API,
prometheus-operator and CloudNativePG object validates against the strict schemas the project keeps for the fields
it uses (tests/k8s_schemas/README.md says where each came from); charts are pinned to exact versions; no
`:latest`, no plaintext credential; and every in-cluster URL, Service, namespace and Secret that cxops.yaml and the
rendered workflows name is declared by the platform (and the reverse). The WorkflowTemplates themselves (Argo
objects) are validated by tests/workflows/test_wf_schema.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helpers import REPO
from k8s_helpers import (
    K8S,
    KUBERNETES_VERSION,
    crd_validator,
    ensure_kubectl,
    kustomizations,
    kustomize,
    yaml_docs,
)

from cxops import names
from cxops.cluster_secrets import catalogue
from cxops.config import load_config
from cxops.config.schema import ENV_NAMES
from cxops.k8s import argocd_apps as argocd
from cxops.k8s.charts import CHARTS
from cxops.k8s.components import components
from cxops.k8s.platform_render import rendered

CFG = load_config(REPO / "cxops.yaml")
WORKFLOWS = REPO / "workflows"
SEMVER = re.compile(r"^v?\d+\.\d+\.\d+$")
SVC_URL = re.compile(r"(https?)://([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local(?::(\d+))?")


@pytest.fixture(scope="module")
def kubectl() -> Path:
    return ensure_kubectl()


@pytest.fixture(scope="module")
def rendered_objects(kubectl: Path) -> dict[Path, list[dict[str, Any]]]:
    """Every kustomization under k8s/ rendered by the real kustomize."""
    return {d: kustomize(kubectl, d) for d in kustomizations()}


def cxops(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CXOPS_CONFIG": str(REPO / "cxops.yaml")}
    return subprocess.run(
        [sys.executable, "-m", "cxops", *args], cwd=REPO, capture_output=True, text=True, timeout=120, env=env
    )


# --- generated, drift-checked ---


def test_committed_files_match_the_code():
    """The project's own tree is what the code renders from cxops.yaml; `--check` refuses it for a cluster with one
    line, since cxops.yaml names a placeholder repository (its diff would come after that line: here none)."""
    from cxops.k8s import platform_render as render

    render.check(CFG, REPO)  # the drift half of `cxops k8s render --check`: raises with the diff
    proc = cxops("k8s", "render", "--check")
    assert proc.returncode == 1
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and "repoURL 'git@git.example.org:ml-team/cxops-gitops.git' is a placeholder" in lines[0]


def test_check_fails_on_an_edited_and_on_a_stale_file(tmp_path: Path):
    """On a tree rendered for an operator's repository (docs/cluster.md step 4)."""
    config = tmp_path / "cxops.yaml"
    data = yaml.safe_load((REPO / "cxops.yaml").read_text())
    data["workflows"]["gitops_remote"] = "git@git.ml-team.internal:ml-team/gitops.git"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.copytree(K8S, tmp_path / "k8s")

    def cxops(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "CXOPS_CONFIG": str(config)}
        argv = [sys.executable, "-m", "cxops", *args]
        return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)

    assert cxops("k8s", "render", "--out", str(tmp_path)).returncode == 0
    values = tmp_path / "k8s" / "platform" / "mlflow" / "values.yaml"
    values.write_text(values.read_text().replace("databaseMigration: true", "databaseMigration: false"))
    (tmp_path / "k8s" / "argocd" / "apps" / "old-app.yaml").write_text("kind: Application\n")
    proc = cxops("k8s", "render", "--check", "--out", str(tmp_path))
    assert proc.returncode == 1
    assert "mlflow/values.yaml" in proc.stderr and "old-app.yaml" in proc.stderr and "cxops k8s render" in proc.stderr
    assert "-  databaseMigration: true" in proc.stderr or "+  databaseMigration: true" in proc.stderr  # a real diff
    assert cxops("k8s", "render", "--out", str(tmp_path)).returncode == 0
    assert cxops("k8s", "render", "--check", "--out", str(tmp_path)).returncode == 1  # hand-made file is kept
    (tmp_path / "k8s" / "argocd" / "apps" / "old-app.yaml").unlink()
    assert cxops("k8s", "render", "--check", "--out", str(tmp_path)).returncode == 0
    # a generated file nothing renders any more (a dropped component or dashboard) is removed by a render
    dashboards = tmp_path / "k8s" / "platform" / "monitoring-config" / "dashboards"
    shutil.copy(dashboards / "cxops-team.json", dashboards / "cxops-dropped.json")
    shutil.copy(values, tmp_path / "k8s" / "platform" / "mlflow" / "dropped.yaml")
    assert cxops("k8s", "render", "--out", str(tmp_path)).returncode == 0
    assert not (dashboards / "cxops-dropped.json").exists()
    assert not (tmp_path / "k8s" / "platform" / "mlflow" / "dropped.yaml").exists()


def test_every_generated_yaml_carries_the_marker():
    for rel, text in rendered(CFG).items():
        if rel.endswith(".yaml"):
            assert text.startswith("# generated by cxops: `cxops k8s render`"), rel


# --- renders and validates ---


def test_every_kustomization_renders(rendered_objects: dict[Path, list[dict[str, Any]]]):
    dirs = {d.relative_to(REPO).as_posix() for d in rendered_objects}
    assert {
        "k8s/argocd",
        "k8s/argocd/apps",
        "k8s/platform/postgres",
        "k8s/platform/monitoring-config",
        names.traffic_dir(CFG),
    } <= dirs
    assert all(rendered_objects.values()), "a kustomization rendered nothing"


def test_plain_objects_validate_strictly_and_custom_ones_against_the_kept_schemas(rendered_objects):
    custom_checked: set[str] = set()
    for directory, docs in rendered_objects.items():
        for doc in docs:
            where = f"{directory.relative_to(REPO)}: {doc['kind']}/{doc['metadata']['name']}"
            validator = crd_validator(doc["apiVersion"], doc["kind"])
            if validator is not None:
                errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
                assert not errors, f"{where}: {errors}"
                custom_checked.add(doc["kind"])
                continue
            assert "." not in doc["apiVersion"].split("/")[0] or doc["apiVersion"].startswith(
                ("rbac.authorization.k8s.io/", "networking.k8s.io/", "storage.k8s.io/", "node.k8s.io/")
            ), f"{where}: custom kind with no schema kept by the project"
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    expected = {
        "Application",
        "AppProject",
        "ApplicationSet",
        "ServiceMonitor",
        "PrometheusRule",
        "Cluster",
        "EnvoyProxy",
        "GatewayClass",
        "Gateway",
        "HTTPRoute",
        "ReferenceGrant",
        "BackendTrafficPolicy",
        "SecurityPolicy",
        "Certificate",
        "ClusterIssuer",
        "Database",
    }
    assert custom_checked >= expected


def test_the_kept_schemas_are_strict():
    """A misspelt field is caught: the schemas are not permissive."""
    app = next(yaml_docs(K8S / "argocd" / "apps" / "platform-mlflow.yaml"))
    app["spec"]["syncPolicy"]["automated"]["selfheal"] = True
    assert list(crd_validator("argoproj.io/v1alpha1", "Application").iter_errors(app))
    monitor = next(
        d for d in yaml_docs(K8S / "platform" / "monitoring-config" / "objects.yaml") if d["kind"] == "ServiceMonitor"
    )
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    assert list(crd_validator("monitoring.coreos.com/v1", "ServiceMonitor").iter_errors(monitor))


def test_label_studio_and_an_external_store_render_and_validate(kubectl: Path, tmp_path: Path):
    """The optional and alternative shapes render too: Label Studio on, the site's S3 API instead of SeaweedFS."""
    raw = yaml.safe_load((REPO / "cxops.yaml").read_text())
    raw["platform"] = {"label_studio": True, "object_store": "external", "storage_class": "cinder-csi"}
    raw.setdefault("workflows", {})["s3_endpoint_url"] = "https://chi.tacc.chameleoncloud.org:7480"
    (tmp_path / "cxops.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "CXOPS_CONFIG": str(tmp_path / "cxops.yaml")}
    proc = subprocess.run(
        [sys.executable, "-m", "cxops", "k8s", "render", "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    shutil.copytree(REPO / "k8s" / "serving", tmp_path / "k8s" / "serving")
    apps = {p.name for p in (tmp_path / "k8s" / "argocd" / "apps").glob("*.yaml")}
    assert "platform-label-studio.yaml" in apps and "platform-object-store.yaml" not in apps
    postgres = kustomize(kubectl, tmp_path / "k8s" / "platform" / "postgres")
    assert {d["kind"] for d in postgres} == {"Cluster", "Database"}
    for doc in postgres:
        assert not list(crd_validator(doc["apiVersion"], doc["kind"]).iter_errors(doc))
    services = kustomize(kubectl, tmp_path / "k8s" / "platform" / "services")
    assert "s3" not in {d["metadata"]["name"] for d in services}, "no in-cluster S3 Service with an external store"
    mlflow = yaml.safe_load((tmp_path / "k8s" / "platform" / "mlflow" / "values.yaml").read_text())
    assert mlflow["extraEnvVars"]["MLFLOW_S3_ENDPOINT_URL"] == raw["workflows"]["s3_endpoint_url"]


def test_an_external_store_without_an_endpoint_is_a_config_error(tmp_path: Path):
    raw = yaml.safe_load((REPO / "cxops.yaml").read_text())
    raw["platform"] = {"object_store": "external"}
    (tmp_path / "cxops.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "CXOPS_CONFIG": str(tmp_path / "cxops.yaml")}
    proc = subprocess.run(
        [sys.executable, "-m", "cxops", "k8s", "render", "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "s3_endpoint_url" in proc.stderr
    assert not (tmp_path / "k8s").exists(), "nothing half-written on a config error"


# --- ArgoCD: the app-of-apps contract ---


def _apps() -> list[dict[str, Any]]:
    docs = [d for p in sorted((K8S / "argocd").rglob("*.yaml")) for d in yaml_docs(p)]
    return [d for d in docs if d.get("kind") == "Application"]


def test_root_application_is_the_app_of_apps():
    docs = list(yaml_docs(K8S / "argocd" / "root-application.yaml"))
    project, root = docs
    assert project["kind"] == "AppProject" and root["kind"] == "Application"
    assert root["metadata"]["name"] == f"{CFG.project.name}-root" == names.argocd_root_app(CFG)
    assert root["metadata"]["namespace"] == names.argocd_namespace(CFG)
    assert root["spec"]["source"]["path"] == "k8s/argocd"
    assert root["spec"]["source"]["repoURL"] == names.gitops_repo_url(CFG)
    assert root["spec"]["source"]["targetRevision"] == CFG.gitops.branch


def test_every_application_syncs_automatically_with_bounded_retry():
    apps = _apps()
    appset = next(yaml_docs(K8S / "argocd" / "apps" / "serving.yaml"))
    apps.append(appset["spec"]["template"])
    assert len(apps) >= 15
    for app in apps:
        name, policy = app["metadata"]["name"], app["spec"]["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}, name
        assert "CreateNamespace=true" in policy["syncOptions"], name
        assert 1 <= policy["retry"]["limit"] <= 10 and policy["retry"]["backoff"]["factor"] >= 2, name
        assert "resources-finalizer.argocd.argoproj.io" in app["metadata"]["finalizers"], name
        assert app["spec"]["project"] == names.argocd_project(CFG), name
        if name != names.argocd_root_app(CFG):
            assert "argocd.argoproj.io/sync-wave" in app["metadata"]["annotations"], name


def test_serving_applications_are_named_as_the_deploy_step_waits_on():
    appset = next(yaml_docs(K8S / "argocd" / "apps" / "serving.yaml"))
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    assert [e["app"] for e in elements] == [names.argocd_app(CFG, e) for e in ENV_NAMES]
    assert [e["namespace"] for e in elements] == [names.env_namespace(CFG, e) for e in ENV_NAMES]
    for e in elements:
        assert (REPO / e["path"] / "kustomization.yaml").is_file(), e["path"]
    # the rendered deploy workflow waits on `<project>-{{env}}`: the same names
    wait = (WORKFLOWS / "deploy-container-image.yaml").read_text()
    env_param = "{{inputs.parameters.env}}"
    template = CFG.workflows.argocd_app.replace("{project}", CFG.project.name).replace("{env}", env_param)
    assert f"- {template}\n" in wait


def test_traffic_and_workflows_apps_point_at_their_directories():
    by_name = {a["metadata"]["name"]: a for a in _apps()}
    traffic = by_name[names.argocd_platform_app(CFG, "traffic")]
    assert traffic["spec"]["source"]["path"] == names.traffic_dir(CFG)
    wf = by_name[names.argocd_platform_app(CFG, "workflows")]
    assert wf["spec"]["source"]["path"] == "workflows"
    assert wf["spec"]["destination"]["namespace"] == names.workflows_namespace(CFG)
    assert all(
        d["metadata"]["namespace"] == names.workflows_namespace(CFG)
        for d in (next(yaml_docs(p)) for p in WORKFLOWS.glob("*.yaml"))
    )


def test_appproject_limits_sources_and_destinations_to_what_the_apps_use():
    project = next(yaml_docs(K8S / "argocd" / "root-application.yaml"))
    repos, dests = set(project["spec"]["sourceRepos"]), {d["namespace"] for d in project["spec"]["destinations"]}
    assert "*" not in repos and "*" not in dests
    used_repos, used_dests = set(), set()
    for app in _apps():
        for src in app["spec"].get("sources") or [app["spec"]["source"]]:
            used_repos.add(src["repoURL"])
        used_dests.add(app["spec"]["destination"]["namespace"])
    used_dests |= {names.env_namespace(CFG, e) for e in ENV_NAMES}  # the ApplicationSet's
    assert repos == used_repos and dests == used_dests
    role = project["spec"]["roles"][0]
    assert role["name"] == names.ARGOCD_DEPLOY_ROLE
    assert all(", get, " in p for p in role["policies"]), "the workflows' token only reads app state"


def test_sync_waves_put_operators_and_crds_before_their_users():
    """A custom object's Application syncs in a later wave than the chart that installs its CRD."""
    wave = {
        a["metadata"]["name"]: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for a in _apps()
        if "annotations" in a["metadata"]
    }
    provider = {
        "postgresql.cnpg.io": "cnpg-operator",
        "monitoring.coreos.com": "monitoring",
        "gateway.networking.k8s.io": "gateway",  # its CRDs are Kubespray's; the GatewayClass needs the controller
        "gateway.envoyproxy.io": "gateway-crds",
        "argoproj.io": "argo-workflows",
        "cert-manager.io": "cert-manager",
    }
    namespaces = wave[names.argocd_platform_app(CFG, "namespaces")]
    for c in components(CFG):
        app = names.argocd_platform_app(CFG, c.name)
        if c.name != "namespaces":
            assert wave[app] > namespaces, app
        for obj in c.objects:
            group = obj["apiVersion"].split("/")[0]
            if group in provider:
                assert wave[app] > wave[names.argocd_platform_app(CFG, provider[group])], f"{app} uses {group}"
    for app in ("traffic", "workflows"):  # HTTPRoutes, WorkflowTemplates
        assert wave[names.argocd_platform_app(CFG, app)] > max(
            wave[names.argocd_platform_app(CFG, p)] for p in ("gateway", "argo-workflows")
        )


# --- pinned, no latest, resources, probes, no credentials ---


def test_every_chart_is_pinned_to_an_exact_version():
    for key, chart in CHARTS.items():
        assert SEMVER.match(chart.version) and "latest" not in chart.version, key
    for app in _apps():
        for src in app["spec"].get("sources", []):
            if "ref" in src:
                continue
            assert SEMVER.match(src["targetRevision"]), f"{app['metadata']['name']}: {src['targetRevision']}"
            assert src["targetRevision"] in {c.version for c in CHARTS.values()}


def test_no_latest_tag_anywhere_in_k8s():
    for path in K8S.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r":latest\b|tag:\s*['\"]?latest", text), f"{path}: :latest"


def _walk(obj: Any, path: str = ""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}.{k}")
            yield path, k, v
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")


def test_every_resources_block_has_requests_and_limits():
    blocks = 0
    for c in components(CFG):
        for where, key, value in [*_walk(c.values), *(x for o in c.objects for x in _walk(o))]:
            if key == "resources" and isinstance(value, dict) and ("requests" in value or "limits" in value):
                if "storage" in value.get("requests", {}):
                    continue  # a volume claim's size, not a container's
                assert value.get("requests") and value.get("limits"), f"{c.name}{where}"
                assert {"cpu", "memory"} <= set(value["requests"]) | set(value["limits"]), f"{c.name}{where}"
                blocks += 1
        if c.chart is not None and c.name != "gateway-crds":  # CRDs only: nothing runs
            assert any(k == "resources" for _, k, _ in _walk(c.values)), f"{c.name}: chart runs without resources"
    assert blocks >= 15


def test_every_container_we_own_has_resources_and_probes(rendered_objects):
    containers = 0
    for docs in rendered_objects.values():
        for doc in docs:
            spec = doc.get("spec", {}).get("template", {}).get("spec", {})
            for c in spec.get("containers", []):
                assert c["resources"]["requests"] and c["resources"]["limits"], c["name"]
                assert c.get("readinessProbe") and c.get("livenessProbe"), c["name"]
                containers += 1
    assert containers >= 3  # the three env model servers


CREDENTIAL_KEY = re.compile(r"(password|passwd|secret|token|access.?key|private.?key|htpasswd|credential)", re.I)
REFERENCE_KEYS = {"existingSecret", "secretName", "name", "secret", "passwordSecret", "existingAdminSecret"}


def test_no_plaintext_credential_in_k8s():
    """No Secret object with data in git, and every credential-looking value is only the name of a catalogued
    Secret (or a key within one), never a value."""
    secret_names = {s.name for s in catalogue(CFG)}
    key_names = {k for s in catalogue(CFG) for k in s.keys}
    for path in K8S.rglob("*.yaml"):
        for doc in yaml_docs(path):
            if doc.get("kind") == "Secret":
                pytest.fail(f"{path}: a Secret object in git")
            for where, key, value in _walk(doc):
                if not isinstance(value, str) or not value or not CREDENTIAL_KEY.search(key):
                    continue
                ok = value in secret_names or value in key_names or key in REFERENCE_KEYS
                assert ok, f"{path}{where}.{key} = {value!r} looks like a credential"


# --- one source of truth ---


def _declared_services() -> dict[tuple[str, str], set[int]]:
    out: dict[tuple[str, str], set[int]] = {}
    for c in components(CFG):
        for o in c.objects:
            if o["kind"] == "Service":
                out[(o["metadata"]["namespace"], o["metadata"]["name"])] = {p["port"] for p in o["spec"]["ports"]}
    return out


def _workflow_urls() -> set[str]:
    return {m.group(0) for p in WORKFLOWS.glob("*.yaml") for m in SVC_URL.finditer(p.read_text())}


def _secret_refs(doc: Any) -> set[tuple[str, str]]:
    """(secret name, key or '') pairs a manifest references through secretKeyRef / secret volumes."""
    refs = set()
    for _, key, value in _walk(doc):
        if key == "secretKeyRef":
            refs.add((value["name"], value["key"]))
        elif key == "secret" and isinstance(value, dict) and "secretName" in value:
            refs.add((value["secretName"], ""))
    return refs


def test_every_in_cluster_url_is_a_service_the_platform_declares():
    urls = {names.mlflow_tracking_uri(CFG), names.s3_endpoint_url(CFG), names.prometheus_url(CFG)} | _workflow_urls()
    declared = _declared_services()
    checked = 0
    for url in urls:
        m = SVC_URL.match(url)
        if not m:
            continue
        scheme, service, namespace, port = m.groups()
        if (service, namespace) == ("argocd-server", names.argocd_namespace(CFG)):
            continue  # ArgoCD itself is installed by the cluster install (docs/cluster.md), not by this platform
        assert (namespace, service) in declared, f"{url}: no Service {service} in {namespace} in k8s/platform"
        assert int(port or (443 if scheme == "https" else 80)) in declared[(namespace, service)], url
        checked += 1
    assert checked >= 3


def test_every_declared_service_is_used():
    """The reverse: a Service the platform declares is named by cxops.yaml, the workflows or a route."""
    urls = {names.mlflow_tracking_uri(CFG), names.s3_endpoint_url(CFG), names.prometheus_url(CFG)} | _workflow_urls()
    used = {(m.group(3), m.group(2)) for u in urls if (m := SVC_URL.match(u))}
    routes = [o for c in components(CFG) for o in c.objects if o["kind"] == "HTTPRoute"]
    used |= {
        (r["metadata"]["namespace"], b["name"])
        for r in routes
        for rule in r["spec"]["rules"]
        for b in rule.get("backendRefs", [])
    }
    for ns_name in _declared_services():
        assert ns_name in used, f"Service {ns_name} is declared but nothing uses it"


def test_every_namespace_named_is_declared_by_the_platform():
    declared = {o["metadata"]["name"] for c in components(CFG) for o in c.objects if o["kind"] == "Namespace"}
    named = {names.env_namespace(CFG, e) for e in ENV_NAMES} | {
        names.platform_namespace(CFG),
        names.workflows_namespace(CFG),
    }
    named |= {m.group(3) for u in _workflow_urls() if (m := SVC_URL.match(u))} - {names.argocd_namespace(CFG)}
    named |= {next(yaml_docs(p))["metadata"]["namespace"] for p in WORKFLOWS.glob("*.yaml")}
    assert named == declared


def test_every_secret_referenced_is_catalogued_with_its_keys_and_every_catalogued_one_is_used():
    by_ns = {(s.namespace, s.name): set(s.keys) for s in catalogue(CFG)}
    refs: set[tuple[str, str, str]] = set()
    for p in WORKFLOWS.glob("*.yaml"):
        for doc in yaml_docs(p):
            refs |= {(names.workflows_namespace(CFG), n, k) for n, k in _secret_refs(doc)}
    for c in components(CFG):
        for o in [c.values, *c.objects]:
            refs |= {(c.namespace, n, k) for n, k in _secret_refs(o)}
            for _where, key, value in _walk(o):
                if key in ("existingSecret", "existingAdminSecret", "passwordSecret") and isinstance(
                    value, (str, dict)
                ):
                    refs.add((c.namespace, value if isinstance(value, str) else value["name"], ""))
                elif key == "secret" and isinstance(value, dict) and "name" in value:  # CNPG initdb
                    refs.add((c.namespace, value["name"], ""))
    for ns, name, key in refs:
        assert (ns, name) in by_ns, f"Secret {name} in {ns} is referenced but not in cxops/cluster_secrets.py"
        assert not key or key in by_ns[(ns, name)], f"Secret {name} in {ns} has no key {key} in the catalogue"
    used = {(ns, name) for ns, name, _ in refs}
    argocd_ns = names.argocd_namespace(CFG)
    for ns, name in by_ns:
        if ns != argocd_ns:
            assert (ns, name) in used, f"catalogued Secret {name} in {ns} is used by nothing"


def test_registry_is_reached_at_the_host_serving_images_name():
    route = next(
        o
        for c in components(CFG)
        for o in c.objects
        if o["kind"] == "HTTPRoute" and o["metadata"]["name"] == "registry"
    )
    assert route["spec"]["hostnames"] == [names.registry_host(CFG).split(":")[0]]
    assert CFG.serving.image_registry.startswith(route["spec"]["hostnames"][0])


def test_gateway_is_the_one_the_routes_name():
    gw = next(o for c in components(CFG) for o in c.objects if o["kind"] == "Gateway")
    ref = names.gateway_ref(CFG)
    assert gw["metadata"]["name"] == ref["name"] and gw["metadata"]["namespace"] == ref["namespace"]
    traffic = next(yaml_docs(REPO / names.traffic_dir(CFG) / "httproute.yaml"))
    assert traffic["spec"]["parentRefs"] == [ref]
    allowed = gw["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"][0]["values"]
    assert names.env_namespace(CFG, "production") in allowed and names.env_namespace(CFG, "staging") in allowed


def test_workflow_service_account_has_least_rbac():
    objs = next(c for c in components(CFG) if c.name == "workflow-rbac").objects
    sa = next(o for o in objs if o["kind"] == "ServiceAccount")
    assert sa["metadata"]["name"] == CFG.workflows.service_account
    role = next(o for o in objs if o["kind"] == "Role")
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
    ]
    assert not any(o["kind"] in ("ClusterRole", "ClusterRoleBinding") for o in objs)
    for p in WORKFLOWS.glob("*.yaml"):
        doc = next(yaml_docs(p))
        sa_name = doc["spec"].get("serviceAccountName") or doc["spec"].get("workflowSpec", {}).get("serviceAccountName")
        assert sa_name in (None, CFG.workflows.service_account), p.name


def test_label_studio_is_off_by_default():
    assert CFG.platform.label_studio is False
    assert not (K8S / "argocd" / "apps" / "platform-label-studio.yaml").exists()


def test_chart_sources_are_the_pinned_ones():
    for c in components(CFG):
        if c.chart is None:
            continue
        app = argocd.platform_app(CFG, c)
        chart_src, values_src = app["spec"]["sources"]
        assert chart_src["targetRevision"] == c.chart.version
        assert chart_src["helm"]["valueFiles"] == [f"$values/{c.dir}/values.yaml"]
        assert values_src["ref"] == "values" and (REPO / c.dir / "values.yaml").is_file()


def test_database_roles_match_the_fixed_usernames_of_their_secrets():
    """CloudNativePG creates the role the Cluster names; the Secret the install fills must carry that username."""
    fixed = {s.name: dict(s.fixed) for s in catalogue(CFG)}
    cluster = next(o for c in components(CFG) for o in c.objects if o["kind"] == "Cluster")
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert fixed[initdb["secret"]["name"]]["username"] == initdb["owner"]
    mlflow = next(c for c in components(CFG) if c.name == "mlflow").values
    assert mlflow["backendStore"]["existingDatabaseSecret"]["name"] == initdb["secret"]["name"]
    assert mlflow["backendStore"]["postgres"]["database"] == initdb["database"]


def test_prometheus_scrapes_every_env_and_the_argo_controller():
    monitors = [o for c in components(CFG) for o in c.objects if o["kind"] == "ServiceMonitor"]
    scraped = {ns for m in monitors for ns in m["spec"]["namespaceSelector"]["matchNames"]}
    assert scraped == {names.env_namespace(CFG, e) for e in ENV_NAMES}
    for m in monitors:
        interval = f"{int(CFG.gates.canary.prometheus_scrape_seconds)}s"
        assert m["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": interval}]
    serving_service = next(yaml_docs(REPO / "k8s" / "serving" / "base" / "service.yaml"))
    assert serving_service["spec"]["ports"][0]["name"] == "http"  # the port name the ServiceMonitors scrape
    by_name = {c.name: c.values for c in components(CFG)}
    assert by_name["mlflow"]["serviceMonitor"]["enabled"] is False  # K5: basic auth guards its /metrics
    assert by_name["argo-workflows"]["controller"]["metricsConfig"]["enabled"] is True
    assert by_name["argo-workflows"]["controller"]["serviceMonitor"]["enabled"] is True
    prom = by_name["monitoring"]["prometheus"]["prometheusSpec"]
    assert prom["serviceMonitorSelectorNilUsesHelmValues"] is False and prom["ruleSelectorNilUsesHelmValues"] is False


def test_pod_security_levels_admit_the_pods_that_run_there():
    """Baseline Pod Security forbids unconfined seccomp/AppArmor, which rootless BuildKit needs in the workflows
    namespace; the env namespaces run only the model server, which needs nothing baseline forbids."""
    level = {
        o["metadata"]["name"]: o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for c in components(CFG)
        for o in c.objects
        if o["kind"] == "Namespace"
    }
    unconfined = any("Unconfined" in p.read_text() for p in WORKFLOWS.glob("*.yaml"))
    assert not unconfined or level[names.workflows_namespace(CFG)] == "privileged"
    deployment = next(yaml_docs(REPO / "k8s" / "serving" / "base" / "deployment.yaml"))
    pod = deployment["spec"]["template"]["spec"]
    assert not pod.get("hostNetwork") and not any(
        c.get("securityContext", {}).get("privileged") for c in pod["containers"]
    )
    assert all(level[names.env_namespace(CFG, e)] == "baseline" for e in ENV_NAMES)


def test_docs_list_every_application_and_every_secret_key():
    """docs/platform.md stays true: each platform Application and each catalogued Secret with its keys is there."""
    doc = (REPO / "docs" / "platform.md").read_text()
    for c in components(CFG):
        assert f"`<project>-{c.name}`" in doc, f"docs/platform.md does not list {c.name}"
    for s in catalogue(CFG):
        row = next(
            (
                line
                for line in doc.splitlines()
                if line.startswith("|") and (s.name in line or s.name.replace(CFG.project.name, "<project>") in line)
            ),
            None,
        )
        if row is None:  # named by its cxops.yaml key, e.g. workflows.s3_secret
            key = next(k for k, v in CFG.workflows.model_dump().items() if v == s.name)
            row = next(line for line in doc.splitlines() if f"`workflows.{key}`" in line and line.startswith("|"))
        for k in s.keys:
            assert f"`{k}`" in row, f"docs/platform.md: Secret {s.name} lacks key {k}"
