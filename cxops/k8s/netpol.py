"""NetworkPolicies: default deny (ingress and egress) in every namespace the project creates, then exactly the
flows below, each rendered as an egress policy in its source namespace and an ingress policy in its destination
namespace (when that namespace is the project's). docs/security.md shows this list; the tests check every flow is
allowed by the rendered policies and that no project namespace lacks the default deny.

Facts the flows rest on: Kubespray v2.31's defaults (Calico, which enforces NetworkPolicy and matches egress after
the Service address is translated, so the API server is the nodes' 6443; nodelocaldns on 169.254.25.10; CoreDNS
pods labelled k8s-app=kube-dns in kube-system), Envoy Gateway v1.9's proxy pods (labels
app.kubernetes.io/name=envoy and gateway.envoyproxy.io/owning-gateway-name; a listener port below 1024 is served
on port+10000 in the container), the ports of cxops' own Services (cxops.k8s.objects.platform_services). Calico
always lets a node reach its own pods, so kubelet probes need no rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cxops import names
from cxops.config.schema import ENV_NAMES, Config
from cxops.k8s import values

ANYWHERE = "0.0.0.0/0"
NODELOCALDNS = "169.254.25.10/32"  # Kubespray's nodelocaldns_ip
API_SERVER_PORT = 6443
ENVOY_PORTS = (10080, 10443)  # the Gateway's 80/443 inside Envoy's container
ENVOY_LABEL = ("app.kubernetes.io/name", "envoy")  # Envoy Gateway's proxy pods
MODEL_PORT = 8080  # k8s/serving/base: the model server's container port
ACME_SOLVER_PORT = 8089  # cert-manager's HTTP-01 solver pods (label acme.cert-manager.io/http01-solver=true)
DEFAULT_DENY = "default-deny"
PUBLIC_ENVS = ("production", "canary")  # the envs behind the public route (cxops.gitops.traffic)


@dataclass(frozen=True)
class Peer:
    """One end of a flow: pods (`namespace` + `pods` labels; empty labels = every pod there) or addresses
    (`cidrs`, for what is not a pod: the internet, the nodes). `what` names it for people."""

    what: str
    namespace: str | None = None
    pods: tuple[tuple[str, str], ...] = ()
    cidrs: tuple[str, ...] = ()
    exclude: tuple[tuple[str, str], ...] = ()  # pods carrying one of these labels are not part of this end

    def selector(self) -> dict[str, Any]:
        """The pod selector of this peer inside its namespace."""
        out: dict[str, Any] = {"matchLabels": dict(self.pods)} if self.pods else {}
        if self.exclude:
            out["matchExpressions"] = [{"key": k, "operator": "NotIn", "values": [v]} for k, v in self.exclude]
        return out

    def as_peer(self) -> list[dict[str, Any]]:
        """NetworkPolicy peers (`from`/`to` entries) that match this end."""
        if self.namespace is None:
            return [{"ipBlock": {"cidr": c}} for c in self.cidrs]
        return [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}},
                "podSelector": self.selector(),
            }
        ]


@dataclass(frozen=True)
class Flow:
    """Traffic the platform needs: `source` may open TCP/UDP connections to `dest` on `ports`."""

    name: str
    source: Peer
    dest: Peer
    ports: tuple[int, ...]
    purpose: str
    protocols: tuple[str, ...] = ("TCP",)


def project_namespaces(cfg: Config) -> list[str]:
    """Every namespace the project creates (cxops.k8s.objects.namespaces): the envs, the platform, the workflows."""
    return [names.env_namespace(cfg, e) for e in ENV_NAMES] + [
        names.platform_namespace(cfg),
        names.workflows_namespace(cfg),
    ]


def _pods(selector: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(selector.items()))


def _site_store_flows(cfg: Config, inside: Peer, workflows: Peer, flows: list[Flow]) -> list[Flow]:
    """Egress to the site's object store (`external`) on its endpoint's port, for MLflow and the workflow pods,
    where the internet flows do not allow that port already (a site's S3 API need not be on 443: the lab's Swift is
    on 8080 plus an offset)."""
    url = urlsplit(names.s3_endpoint_url(cfg))
    port = url.port or (443 if url.scheme == "https" else 80)
    store = Peer(f"the site's S3 API ({url.netloc})", cidrs=(ANYWHERE,))
    out = []
    for source, name in ((inside, "platform-to-site-s3"), (workflows, "workflows-to-site-s3")):
        covered = any(f.source == source and f.dest.cidrs == (ANYWHERE,) and port in f.ports for f in flows)
        if not covered:
            out.append(Flow(name, source, store, (port,), "MLflow artifacts in the site's object store"))
    return out


def _service_pods(cfg: Config, service: str) -> tuple[tuple[str, str], ...]:
    """The pods behind one of cxops' platform Services (the selector the Service itself uses)."""
    from cxops.k8s.objects import platform_services

    svc = next(s for s in platform_services(cfg) if s["metadata"]["name"] == service)
    return _pods(svc["spec"]["selector"])


def flows(cfg: Config) -> list[Flow]:
    """The flow list: the only traffic the project's namespaces allow."""
    from cxops.k8s.objects import SERVING_SELECTOR

    platform, argo = names.platform_namespace(cfg), names.workflows_namespace(cfg)
    nodes = (cfg.cloud.network_cidr,)
    pod_net = cfg.kubernetes.pod_cidr  # Kubespray's kube_pods_subnet (the group_vars cxops writes)
    internet = Peer("the internet", cidrs=(ANYWHERE,))
    envoy = Peer(
        "the gateway (Envoy)",
        platform,
        _pods(
            {ENVOY_LABEL[0]: ENVOY_LABEL[1], "gateway.envoyproxy.io/owning-gateway-name": cfg.kubernetes.gateway_name}
        ),
    )
    # the gateway faces the internet: it is not part of the platform's inside, and reaches only its backends
    inside = Peer("platform pods (not the gateway)", platform, exclude=(ENVOY_LABEL,))
    workflows = Peer("workflow pods", argo)
    prometheus = Peer("Prometheus", platform, _service_pods(cfg, "prometheus"))
    registry = Peer("the registry", platform, _service_pods(cfg, "registry"))
    out = [
        Flow("internet-to-gateway", internet, envoy, ENVOY_PORTS, "clients reach the Gateway's 80/443"),
        Flow(
            "nodes-to-gateway",
            Peer("the nodes", cidrs=(*nodes, pod_net)),
            envoy,
            ENVOY_PORTS,
            "containerd pulls images from the registry through the Gateway",
        ),
        Flow("gateway-to-registry", envoy, registry, (values.REGISTRY_PORT,), "the registry's route"),
        Flow(
            "gateway-to-acme-solver",
            envoy,
            Peer("cert-manager's HTTP-01 solver", platform, _pods({"acme.cert-manager.io/http01-solver": "true"})),
            (ACME_SOLVER_PORT,),
            "the ACME CA's challenge reaches the solver (only with kubernetes.domain)",
        ),
        Flow(
            "gateway-to-controller",
            envoy,
            Peer("Envoy Gateway", platform, _pods({"control-plane": "envoy-gateway"})),
            (18000,),
            "Envoy fetches its configuration (xDS)",
        ),
        Flow(
            "platform-internal",
            inside,
            inside,
            (),
            "inside the platform: operators and their databases, MLflow to PostgreSQL and S3, Grafana to Prometheus, "
            "Prometheus to its platform targets, Envoy Gateway to its proxies",
        ),
        Flow("workflows-internal", workflows, Peer("workflows pods", argo), (), "Argo server, controller and events"),
        Flow(
            "workflows-to-mlflow",
            workflows,
            Peer("MLflow", platform, _service_pods(cfg, "mlflow")),
            (5000,),
            "tracking and the model registry",
        ),
        Flow("workflows-to-registry", workflows, registry, (values.REGISTRY_PORT,), "BuildKit pushes images"),
        Flow("workflows-to-prometheus", workflows, prometheus, (9090,), "analyze-canary reads the canary's series"),
        Flow(
            "workflows-to-argocd",
            workflows,
            Peer("ArgoCD's API", names.argocd_namespace(cfg), _pods({"app.kubernetes.io/name": "argocd-server"})),
            (8080,),
            "the deploy steps wait for a sync",
        ),
        Flow(
            "workflows-to-internet",
            workflows,
            Peer("the internet", cidrs=(ANYWHERE,)),
            (22, 443),
            "git push to the GitOps remote, an external S3 store, base images for builds",
        ),
        Flow(
            "platform-to-internet",
            inside,
            Peer("the internet", cidrs=(ANYWHERE,)),
            (80, 443),
            "the ACME CA and its HTTP-01 self-check, an external S3 store",
        ),
        Flow(
            "prometheus-to-nodes",
            prometheus,
            Peer("the nodes", cidrs=nodes),
            (9100, 10250),
            "node exporter and kubelet metrics",
        ),
        Flow(
            "prometheus-to-workflows",
            prometheus,
            Peer("workflows pods", argo),
            (9090,),
            "the Argo controller's metrics",
        ),
        Flow(
            "apiserver-to-webhooks",
            Peer("the API server", cidrs=(*nodes, pod_net)),
            inside,
            (9443, 10250),
            "admission webhooks (cert-manager, CloudNativePG, Envoy Gateway)",
        ),
    ]
    if cfg.platform.object_store == "external":
        out += _site_store_flows(cfg, inside, workflows, out)
    if cfg.platform.object_store == "seaweedfs":
        out.append(
            Flow(
                "workflows-to-s3",
                workflows,
                Peer("S3 (SeaweedFS)", platform, _service_pods(cfg, "s3")),
                (values.S3_PORT,),
                "MLflow artifacts",
            )
        )
    for env in ENV_NAMES:
        server = Peer(f"{env} model servers", names.env_namespace(cfg, env), _pods(SERVING_SELECTOR))
        if env in PUBLIC_ENVS:  # staging has no route: the gateway never reaches it
            out.append(Flow(f"gateway-to-{env}", envoy, server, (MODEL_PORT,), "the public model route"))
        out += [
            Flow(f"prometheus-to-{env}", prometheus, server, (MODEL_PORT,), "scrapes /metrics"),
            Flow(f"workflows-to-{env}", workflows, server, (MODEL_PORT,), "test-staging and analyze-canary"),
        ]
    for ns in project_namespaces(cfg):
        everyone = Peer(f"pods in {ns}", ns)
        out += [
            Flow(
                f"dns-{ns}",
                everyone,
                Peer("cluster DNS", "kube-system", _pods({"k8s-app": "kube-dns"})),
                (53,),
                "name lookups (CoreDNS)",
                ("UDP", "TCP"),
            ),
            Flow(
                f"nodelocaldns-{ns}",
                everyone,
                Peer("node-local DNS", cidrs=(NODELOCALDNS,)),
                (53,),
                "name lookups (nodelocaldns)",
                ("UDP", "TCP"),
            ),
        ]
    for ns, pods in ((platform, inside), (argo, Peer(f"pods in {argo}", argo))):
        out.append(
            Flow(
                f"apiserver-from-{ns}",
                pods,
                Peer("the API server", cidrs=nodes),
                (API_SERVER_PORT,),
                "controllers and operators watch the API",
            )
        )
    return out


def _ports(flow: Flow) -> list[dict[str, Any]]:
    return [{"protocol": proto, "port": p} for p in flow.ports for proto in flow.protocols]


def _rule(flow: Flow, peer: Peer, direction: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"to" if direction == "egress" else "from": peer.as_peer()}
    if flow.ports:
        rule["ports"] = _ports(flow)
    return rule


def _policy(name: str, namespace: str, selector: dict[str, Any], direction: str, rule: dict[str, Any]) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "cxops"}},
        "spec": {
            "podSelector": selector,
            "policyTypes": ["Egress" if direction == "egress" else "Ingress"],
            direction: [rule],
        },
    }


def policies_for(cfg: Config, flow_list: list[Flow]) -> list[dict[str, Any]]:
    """Default deny per project namespace, then one egress/ingress policy per flow end inside the project."""
    own = set(project_namespaces(cfg))
    out = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": DEFAULT_DENY, "namespace": ns, "labels": {"app.kubernetes.io/part-of": "cxops"}},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        }
        for ns in project_namespaces(cfg)
    ]
    for f in flow_list:
        if f.source.namespace in own:
            out.append(
                _policy(
                    f"egress-{f.name}", f.source.namespace, f.source.selector(), "egress", _rule(f, f.dest, "egress")
                )
            )
        if f.dest.namespace in own:
            out.append(
                _policy(
                    f"ingress-{f.name}", f.dest.namespace, f.dest.selector(), "ingress", _rule(f, f.source, "ingress")
                )
            )
    return out


def policies(cfg: Config) -> list[dict[str, Any]]:
    """The NetworkPolicies the network-policies component renders."""
    return policies_for(cfg, flows(cfg))
