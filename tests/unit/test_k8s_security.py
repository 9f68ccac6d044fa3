"""Who can get in: the exposure inventory against what k8s/ really exposes, TLS on the gateway, the NetworkPolicies
against the documented flow list, checkov on k8s/.

No Kubernetes API server, Envoy Gateway, cert-manager or CNI can run on this machine, so no request is really
sent through the gateway and no packet through a policy. What is checked instead, on the committed files rendered
by the real kustomize: every HTTPRoute, Ingress and LoadBalancer/NodePort Service (and every chart value that
would create one) is in the inventory (cxops.k8s.exposure) and the reverse; every non-public route carries the
policy that enforces its access, targeting exactly that route; the HTTPS listener's certificate is one cert-manager
issues; the new kinds validate against the strict schemas in tests/k8s_schemas (cert-manager v1.21.1, Envoy Gateway
v1.9.0); a small evaluator of NetworkPolicy semantics (Kubernetes docs, "Network Policies": a pod is isolated in a
direction once a policy selects it; a connection needs the source's egress and the destination's ingress) shows
every documented flow allowed, and flows nobody listed denied; checkov (its own venv, scripts/install-checkov)
finds no failed check in k8s/, every skip carrying its reason.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, base_config, merge
from k8s_helpers import K8S, crd_validator, ensure_kubectl, kustomizations, kustomize

from cxops import names
from cxops.config import load_config
from cxops.config.schema import ENV_NAMES
from cxops.k8s import exposure, netpol, policies, tls
from cxops.k8s.components import components
from cxops.k8s.platform_render import EXPOSURE_FILE

CFG = load_config(REPO / "cxops.yaml")
DOCS = REPO / "docs" / "security.md"
EXPOSING_SERVICE_TYPES = {"LoadBalancer", "NodePort"}


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    """Every object of every kustomization under k8s/ (the platform, the overlays, the traffic split)."""
    kubectl = ensure_kubectl()
    return [o for d in kustomizations() for o in kustomize(kubectl, d)]


def _key(o: dict[str, Any]) -> str:
    return f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"


# --- the inventory against what is exposed ---


def test_rendered_inventory_is_the_table():
    doc = yaml.safe_load((REPO / EXPOSURE_FILE).read_text())
    assert doc == exposure.document(CFG)
    public = [e for e in exposure.inventory(CFG) if e.access == "public" and e.route]
    # only the model route (and the redirect, which serves nothing) is open to everyone
    assert {e.route for e in public} == {
        f"{names.env_namespace(CFG, 'production')}/{names.PUBLIC_ROUTE}",
        f"{names.platform_namespace(CFG)}/https-redirect",
    }


def test_nothing_is_exposed_that_the_inventory_does_not_list(objects):
    listed = exposure.gateway_routes(CFG)
    routes = {_key(o): o for o in objects if o["kind"] in ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute")}
    assert set(routes) == set(listed), "routes and the inventory differ"
    assert not [o for o in objects if o["kind"] == "Ingress"], "an Ingress bypasses the gateway and the inventory"
    exposing = [
        _key(o)
        for o in objects
        if o["kind"] == "Service" and o["spec"].get("type", "ClusterIP") in EXPOSING_SERVICE_TYPES
    ]
    assert exposing == [], "a Service of ours is reachable from outside the cluster"
    # the only Service reachable from outside: Envoy's, which Envoy Gateway creates from the EnvoyProxy
    proxies = [o for o in objects if o["kind"] == "EnvoyProxy"]
    assert len(proxies) == 1
    svc = proxies[0]["spec"]["provider"]["kubernetes"]["envoyService"]
    assert svc["type"] == "NodePort"
    ports = {p["port"]: p["nodePort"] for p in svc["patch"]["value"]["spec"]["ports"]}
    assert ports == {80: CFG.kubernetes.gateway_node_port, 443: CFG.kubernetes.gateway_tls_node_port}
    doc = exposure.document(CFG)["gateway"]
    assert doc["nodePorts"] == {"http": ports[80], "https": ports[443]}


def _walk(o: Any, path: tuple = ()):
    if isinstance(o, dict):
        for k, v in o.items():
            yield (*path, k), k, v
            yield from _walk(v, (*path, k))
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield from _walk(v, (*path, i))


def test_no_chart_value_opens_an_ingress_a_load_balancer_or_a_node_port():
    """The charts default to ClusterIP Services and no Ingress; our values must not change that."""
    for c in components(CFG):
        for path, key, value in _walk(c.values):
            where = f"{c.name}: {'.'.join(map(str, path))}"
            assert not (key == "type" and value in EXPOSING_SERVICE_TYPES), where
            if key in ("ingress", "httpRoute", "route") and isinstance(value, dict):
                assert not value.get("enabled"), where
            assert key != "nodePort", where


def test_every_non_public_route_is_behind_its_policy_and_the_public_one_is_rate_limited(objects):
    by_key = {(o["kind"], _key(o)): o for o in objects}
    for entry in exposure.inventory(CFG):
        if entry.route is None:
            assert entry.access != "public", entry.name
            continue
        route = by_key[("HTTPRoute", entry.route)]
        assert [p["sectionName"] for p in route["spec"]["parentRefs"]] == [entry.listener], entry.name
        if entry.enforced_by.startswith("RequestRedirect"):
            # serves nothing: every rule redirects to https, none forwards
            assert all("backendRefs" not in r for r in route["spec"]["rules"])
            assert all(f["requestRedirect"]["scheme"] == "https" for r in route["spec"]["rules"] for f in r["filters"])
            continue
        kind, ns, name = entry.enforced_by.split("/")
        policy = by_key[(kind, f"{ns}/{name}")]
        target = policy["spec"]["targetRefs"]
        assert target == [
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route["metadata"]["name"]}
        ]
        assert ns == route["metadata"]["namespace"], "a policy only targets routes in its own namespace"
        if entry.access == "public":
            limit = policy["spec"]["rateLimit"]["local"]["rules"][0]["limit"]
            assert limit == {"requests": CFG.kubernetes.public_rate_limit_rps, "unit": "Second"}
        else:
            auth = policy["spec"]["authorization"]
            assert auth["defaultAction"] == "Deny"
            allowed = [ipaddress.ip_network(c) for r in auth["rules"] for c in r["principal"]["clientCIDRs"]]
            assert allowed and all(n.is_private for n in allowed), allowed


def test_every_route_but_the_plain_http_ones_is_on_the_tls_listener(objects):
    plain = {e.route for e in exposure.inventory(CFG) if e.listener == names.GATEWAY_HTTP}
    for o in objects:
        if o["kind"] == "HTTPRoute" and _key(o) not in plain:
            assert all(p.get("sectionName") == names.GATEWAY_HTTPS for p in o["spec"]["parentRefs"]), _key(o)


def test_docs_list_every_entry_and_every_flow():
    text = DOCS.read_text()
    for e in exposure.inventory(CFG):
        assert e.name in text, f"docs/security.md does not list {e.name}"
    for f in netpol.flows(CFG):
        if not f.name.startswith(("dns-", "nodelocaldns-", "apiserver-from-")):
            assert f"`{f.name}`" in text, f"docs/security.md does not show flow {f.name}"


# --- TLS ---


def test_https_listener_uses_the_certificate_cert_manager_issues(objects):
    gw = next(o for o in objects if o["kind"] == "Gateway")
    listeners = {li["name"]: li for li in gw["spec"]["listeners"]}
    assert set(listeners) == {names.GATEWAY_HTTP, names.GATEWAY_HTTPS}
    https = listeners[names.GATEWAY_HTTPS]
    assert https["port"] == 443 and https["protocol"] == "HTTPS" and https["tls"]["mode"] == "Terminate"
    secret = https["tls"]["certificateRefs"][0]["name"]
    cert = next(o for o in objects if o["kind"] == "Certificate" and o["spec"]["secretName"] == secret)
    assert cert["metadata"]["namespace"] == gw["metadata"]["namespace"]
    issuer = next(
        o for o in objects if o["kind"] == "ClusterIssuer" and o["metadata"]["name"] == names.cluster_issuer(CFG)
    )
    assert cert["spec"]["issuerRef"] == {
        "group": "cert-manager.io",
        "kind": "ClusterIssuer",
        "name": issuer["metadata"]["name"],
    }
    # no domain: the cluster's own CA, itself from the self-signed issuer
    ca_secret = issuer["spec"]["ca"]["secretName"]
    ca = next(o for o in objects if o["kind"] == "Certificate" and o["spec"]["secretName"] == ca_secret)
    assert ca["spec"]["isCA"] is True
    root = next(
        o for o in objects if o["kind"] == "ClusterIssuer" and o["metadata"]["name"] == ca["spec"]["issuerRef"]["name"]
    )
    assert root["spec"] == {"selfSigned": {}}
    charts = {c.name: c for c in components(CFG)}
    assert charts["cert-manager"].values["config"]["enableGatewayAPI"] is True


def test_a_domain_switches_to_acme_answered_on_the_http_listener(tmp_path: Path):
    path = tmp_path / "cxops.yaml"
    path.write_text(
        yaml.safe_dump(
            merge(base_config(), {"kubernetes": {"domain": "ml.example.org", "acme_email": "ops@example.org"}})
        )
    )
    cfg = load_config(path)
    issuers = tls.issuers(cfg)
    assert [i["kind"] for i in issuers] == ["ClusterIssuer"]
    acme = issuers[0]["spec"]["acme"]
    assert acme["server"] == cfg.kubernetes.acme_server and acme["email"] == "ops@example.org"
    assert acme["solvers"][0]["http01"]["gatewayHTTPRoute"]["parentRefs"] == [
        names.gateway_ref(cfg, names.GATEWAY_HTTP)
    ]
    cert = tls.gateway_certificate(cfg)
    assert cert["spec"]["dnsNames"] == ["ml.example.org"]
    assert cert["spec"]["issuerRef"]["name"] == issuers[0]["metadata"]["name"]
    for o in [*issuers, cert]:
        errors = [e.message for e in crd_validator(o["apiVersion"], o["kind"]).iter_errors(o)]
        assert not errors, errors


def test_a_domain_without_an_acme_contact_is_a_config_error(tmp_path: Path):
    from cxops.errors import ConfigError

    path = tmp_path / "cxops.yaml"
    path.write_text(yaml.safe_dump(merge(base_config(), {"kubernetes": {"domain": "ml.example.org"}})))
    with pytest.raises(ConfigError, match="acme_email"):
        load_config(path)


# --- NetworkPolicies ---


def _labels_match(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels", "matchExpressions"}, f"unknown selector field: {selector}"
    for e in selector.get("matchExpressions", []):
        assert e["operator"] in ("In", "NotIn"), f"evaluator knows In/NotIn only: {e}"
        if (labels.get(e["key"]) in e["values"]) != (e["operator"] == "In"):
            return False
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


class Endpoint:
    """A concrete end of a connection: a pod (namespace + labels) or an address."""

    def __init__(self, peer: netpol.Peer):
        self.namespace = peer.namespace
        self.labels = dict(peer.pods)
        # an address inside the peer's first network, not its network address (0.0.0.0/0 → 0.0.0.1)
        net = ipaddress.ip_network(peer.cidrs[0]) if peer.cidrs else None
        self.ip = None if net is None else net[1] if net.num_addresses > 1 else net[0]

    def matches(self, peer: dict[str, Any]) -> bool:
        if "ipBlock" in peer:
            return self.ip is not None and self.ip in ipaddress.ip_network(peer["ipBlock"]["cidr"])
        if self.namespace is None:
            return False
        ns_ok = _labels_match(peer.get("namespaceSelector", {}), {"kubernetes.io/metadata.name": self.namespace})
        return ns_ok and _labels_match(peer.get("podSelector", {}), self.labels)


def _allowed(pols: list[dict[str, Any]], at: Endpoint, other: Endpoint, direction: str, port: int, proto: str) -> bool:
    """Whether the policies of `at`'s namespace let `at` send (egress) to / receive (ingress) from `other`."""
    kind = "Egress" if direction == "egress" else "Ingress"
    selecting = [
        p
        for p in pols
        if p["metadata"]["namespace"] == at.namespace
        and kind in p["spec"]["policyTypes"]
        and _labels_match(p["spec"]["podSelector"], at.labels)
    ]
    if not selecting:
        return True  # not isolated
    side = "to" if direction == "egress" else "from"
    for p in selecting:
        for rule in p["spec"].get(direction, []):
            if not any(other.matches(peer) for peer in rule.get(side, [])):
                continue
            if not rule.get("ports") or any(pp["port"] == port and pp["protocol"] == proto for pp in rule["ports"]):
                return True
    return False


def _connects(pols: list[dict[str, Any]], src: netpol.Peer, dst: netpol.Peer, port: int, proto: str = "TCP") -> bool:
    own = set(netpol.project_namespaces(CFG))
    a, b = Endpoint(src), Endpoint(dst)
    out_ok = a.namespace not in own or _allowed(pols, a, b, "egress", port, proto)
    in_ok = b.namespace not in own or _allowed(pols, b, a, "ingress", port, proto)
    return out_ok and in_ok


@pytest.fixture(scope="module")
def netpols(objects) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def test_every_project_namespace_has_a_default_deny(netpols):
    for ns in netpol.project_namespaces(CFG):
        deny = [
            p
            for p in netpols
            if p["metadata"]["namespace"] == ns
            and p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        assert deny, f"namespace {ns} has no default deny"
    namespaces = {o["metadata"]["name"] for c in components(CFG) for o in c.objects if o["kind"] == "Namespace"}
    assert namespaces == set(netpol.project_namespaces(CFG)), "a namespace the project creates is not covered"


def test_every_documented_flow_is_allowed(netpols):
    flows = netpol.flows(CFG)
    assert len({f.name for f in flows}) == len(flows)
    for f in flows:
        for port in f.ports or (1,):
            for proto in f.protocols:
                assert _connects(netpols, f.source, f.dest, port, proto), f"flow {f.name} ({port}/{proto}) is blocked"


UNLISTED = {
    "internet to MLflow": ("internet", "mlflow", 5000),
    "internet to a model server directly": ("internet", "production", 8080),
    "gateway to staging": ("gateway", "staging", 8080),
    "gateway to MLflow": ("gateway", "mlflow", 5000),
    "a model server to MLflow": ("production", "mlflow", 5000),
    "a model server to the internet": ("production", "internet", 443),
    "a model server to another env": ("canary", "production", 8080),
    "workflows to MLflow on another port": ("workflows", "mlflow", 5432),
    "internet to the workflows": ("internet", "workflows", 2746),
}


@pytest.mark.parametrize("case", list(UNLISTED))
def test_flows_nobody_listed_are_denied(netpols, case: str):
    from cxops.k8s.objects import SERVING_SELECTOR

    platform = names.platform_namespace(CFG)
    ends = {
        "internet": netpol.Peer("the internet", cidrs=("203.0.113.0/24",)),
        "gateway": next(f.source for f in netpol.flows(CFG) if f.name == "gateway-to-registry"),
        "mlflow": next(f.dest for f in netpol.flows(CFG) if f.name == "workflows-to-mlflow"),
        "workflows": netpol.Peer("workflows", names.workflows_namespace(CFG)),
        **{
            env: netpol.Peer(env, names.env_namespace(CFG, env), tuple(sorted(SERVING_SELECTOR.items())))
            for env in ENV_NAMES
        },
    }
    src, dst, port = UNLISTED[case]
    assert ends["mlflow"].namespace == platform
    assert not _connects(netpols, ends[src], ends[dst], port), f"{case} is allowed"


def test_registry_rule_and_flows_agree_on_the_private_networks():
    nodes_flow = next(f for f in netpol.flows(CFG) if f.name == "nodes-to-gateway")
    assert set(nodes_flow.source.cidrs) == set(policies.private_networks(CFG))


# --- checkov ---


def test_checkov_finds_no_failed_check_in_k8s(tmp_path: Path):
    checkov = REPO / ".tools" / "checkov" / "bin" / "checkov"
    assert checkov.exists(), "checkov is not installed: run scripts/install-checkov (`make test` does)"
    res = subprocess.run(
        [str(checkov), "-d", str(K8S), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    report = json.loads(res.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        (c["check_id"], c["resource"], c["file_path"]) for r in reports for c in r["results"].get("failed_checks", [])
    ]
    assert failed == []
    assert sum(r["summary"]["parsing_errors"] for r in reports) == 0
    assert sum(r["summary"]["passed"] for r in reports) >= 50  # the Kubernetes checks ran
    for r in reports:
        for skipped in r["results"].get("skipped_checks", []):
            assert skipped.get("check_result", {}).get("suppress_comment"), f"skip without a reason: {skipped}"


def test_an_external_store_on_its_own_port_is_reachable_from_mlflow_and_the_workflows_only():
    """`platform.object_store: external` at a port other than 443 (Chameleon's Swift need not be on 443; the lab's is
    on 8080 plus an offset): MLflow and the workflow pods may reach it, a model server still may not. Failed before
    the site-store flows: only 80/443 and 22/443 left the cluster."""
    raw = CFG.model_dump(mode="json", exclude_none=True)
    raw["platform"]["object_store"] = "external"
    raw["workflows"]["s3_endpoint_url"] = "http://swift.example.org:7480"
    cfg = type(CFG).model_validate(raw)
    pols = netpol.policies(cfg)
    site = netpol.Peer("the site's S3 API", cidrs=("198.51.100.7/32",))
    mlflow = next(f.dest for f in netpol.flows(cfg) if f.name == "workflows-to-mlflow")
    workflows = netpol.Peer("workflows", names.workflows_namespace(cfg))
    assert _connects(pols, mlflow, site, 7480) and _connects(pols, workflows, site, 7480)
    server = netpol.Peer("production", names.env_namespace(cfg, "production"))
    assert not _connects(pols, server, site, 7480)
    assert not any(f.name.endswith("site-s3") for f in netpol.flows(CFG)), "SeaweedFS needs no way out"
