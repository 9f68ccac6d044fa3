"""Plain objects the platform owns (not from a chart): namespaces, the PostgreSQL Cluster, the Gateway and its routes,
monitoring targets and rules, the workflows' ServiceAccount, and the stable Service names the workflows use.

API shapes: CloudNativePG `postgresql.cnpg.io/v1` (Cluster, Database), Gateway API `gateway.networking.k8s.io/v1`
(GatewayClass, Gateway, HTTPRoute) and `v1beta1` (ReferenceGrant), prometheus-operator `monitoring.coreos.com/v1`
(ServiceMonitor, PrometheusRule).
"""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.config.schema import ENV_NAMES, Config
from cxops.k8s import rules, values

PART_OF = {"app.kubernetes.io/part-of": "cxops"}
ENVOY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"  # Envoy Gateway's GatewayClass controllerName
SERVING_SELECTOR = {"app.kubernetes.io/name": "cxops-serving"}  # k8s/serving/base labels
REDIRECT_ROUTE = "https-redirect"  # the HTTP listener's catch-all route
REGISTRY_ROUTE = "registry"


def _meta(name: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = {**PART_OF, **labels}
    return meta


def gateway_class(cfg: Config) -> str:
    """Name of the GatewayClass served by Envoy Gateway."""
    return f"{cfg.project.name}-envoy"


def namespaces(cfg: Config) -> list[dict[str, Any]]:
    """The namespaces the project owns (platform, workflows, one per env) with their Pod Security level: baseline
    for the envs; privileged for the platform (the node exporter needs the host's namespaces) and the workflows
    (rootless BuildKit needs unconfined seccomp and AppArmor, which baseline forbids). Never pruned or deleted:
    removing an Application must not take every object of a namespace with it."""
    out = []
    for env in ENV_NAMES:
        out.append(_ns(names.env_namespace(cfg, env), "baseline", **{"cxops.dev/env": env}))
    out.append(_ns(names.platform_namespace(cfg), "privileged"))  # node-exporter needs host namespaces
    out.append(_ns(names.workflows_namespace(cfg), "privileged"))
    return out


def _ns(name: str, level: str, **labels: str) -> dict[str, Any]:
    meta = _meta(name, **labels)
    meta["labels"]["pod-security.kubernetes.io/enforce"] = level
    meta["annotations"] = {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def data_storage_class() -> dict[str, Any]:
    """The platform's StorageClass: Kubespray's local-path provisioner (`rancher.io/local-path`, volumes under
    /var/lib/cxops-data/local-path/ on the node that runs the pod), restricted by `allowedTopologies` to nodes
    labelled names.DATA_VOLUME_LABEL=true, i.e. the node the Cinder data volume is mounted on. With
    WaitForFirstConsumer the scheduler only places a pod with such a claim on a node the class allows, so every
    stateful workload lands where its data is on the data volume (Kubernetes docs, Storage Classes: "Allowed
    Topologies")."""
    meta = _meta(names.DATA_STORAGE_CLASS)
    meta["annotations"] = {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": meta,
        "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Delete",
        "allowedTopologies": [{"matchLabelExpressions": [{"key": names.DATA_VOLUME_LABEL, "values": ["true"]}]}],
    }


def postgres(cfg: Config) -> list[dict[str, Any]]:
    """One-instance CloudNativePG Cluster with the `mlflow` database owned by the role in postgres_app_secret; with
    Label Studio on, a managed role and a Database of its own. The image is the operator's default (pinned by the
    operator's chart version)."""
    platform, cluster = names.platform_namespace(cfg), names.postgres_cluster(cfg)
    spec: dict[str, Any] = {
        "instances": 1,
        "bootstrap": {
            "initdb": {"database": "mlflow", "owner": "mlflow", "secret": {"name": names.postgres_app_secret(cfg)}}
        },
        "storage": {
            "size": f"{cfg.platform.postgres_storage_gb}Gi",
            **({"storageClass": cfg.platform.storage_class} if cfg.platform.storage_class else {}),
        },
        "resources": values.resources("250m", "512Mi"),
    }
    out = [
        {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": _meta(cluster, platform), "spec": spec},
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Database",
            "metadata": _meta(values.MLFLOW_AUTH_DATABASE.replace("_", "-"), platform),
            "spec": {"name": values.MLFLOW_AUTH_DATABASE, "owner": "mlflow", "cluster": {"name": cluster}},
        },
    ]
    if cfg.platform.label_studio:
        spec["managed"] = {
            "roles": [
                {
                    "name": "labelstudio",
                    "ensure": "present",
                    "login": True,
                    "passwordSecret": {"name": names.label_studio_db_secret(cfg)},
                }
            ]
        }
        out.append(
            {
                "apiVersion": "postgresql.cnpg.io/v1",
                "kind": "Database",
                "metadata": _meta("labelstudio", platform),
                "spec": {"name": "labelstudio", "owner": "labelstudio", "cluster": {"name": cluster}},
            }
        )
    return out


def gateway(cfg: Config) -> list[dict[str, Any]]:
    """The GatewayClass, the shared Gateway and what it serves besides the production/canary route (which the
    pipeline writes into the traffic directory): HTTP redirected to HTTPS, the HTTPS listener with cert-manager's
    certificate, the registry's host name (plain HTTP, only from the private network: containerd pulls over HTTP),
    and the gateway-level policies (the public route's rate limit, the registry's client-address rule).
    cxops.k8s.exposure lists each route with who may use it; the tests hold the two together."""
    from cxops.k8s import policies

    ref = names.gateway_ref(cfg)
    platform = names.platform_namespace(cfg)
    allowed = sorted({names.env_namespace(cfg, e) for e in ENV_NAMES} | {platform})
    route_ns = {
        "namespaces": {
            "from": "Selector",
            "selector": {
                "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": allowed}]
            },
        }
    }
    gw = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": _meta(ref["name"], platform),
        "spec": {
            "gatewayClassName": gateway_class(cfg),
            "listeners": [
                {"name": names.GATEWAY_HTTP, "port": 80, "protocol": "HTTP", "allowedRoutes": route_ns},
                {
                    "name": names.GATEWAY_HTTPS,
                    "port": 443,
                    "protocol": "HTTPS",
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": names.gateway_tls_secret(cfg)}]},
                    "allowedRoutes": route_ns,
                },
            ],
        },
    }
    # Every plain-HTTP request goes to HTTPS (301) unless a route with a host name claims it (the registry, ACME's
    # challenge): Gateway API prefers the most specific host name, so this catch-all never shadows them.
    redirect = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _meta(REDIRECT_ROUTE, platform),
        "spec": {
            "parentRefs": [names.gateway_ref(cfg, names.GATEWAY_HTTP)],
            "rules": [
                {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
            ],
        },
    }
    registry_route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _meta(REGISTRY_ROUTE, platform),
        "spec": {
            "parentRefs": [names.gateway_ref(cfg, names.GATEWAY_HTTP)],
            "hostnames": [names.registry_host(cfg).split(":")[0]],
            "rules": [{"backendRefs": [{"name": "registry", "port": values.REGISTRY_PORT}]}],
        },
    }
    # No cloud controller makes LoadBalancer Services here: Envoy listens on fixed node ports on every node, under a
    # Service named after the Gateway, and tf/'s Octavia load balancer sends 80/443 to them on every node. Local
    # traffic policy: a node without an Envoy pod refuses, so the load balancer's health monitor keeps only Envoy's
    # nodes in rotation (audit K4); the client's address arrives in the PROXY header (policies.proxy_protocol).
    proxy = {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyProxy",
        "metadata": _meta(gateway_class(cfg), platform),
        "spec": {
            "provider": {
                "type": "Kubernetes",
                "kubernetes": {
                    "envoyService": {
                        "name": ref["name"],
                        "type": "NodePort",
                        "externalTrafficPolicy": "Local",
                        "patch": {
                            "type": "StrategicMerge",
                            "value": {
                                "spec": {
                                    "ports": [
                                        {"port": 80, "nodePort": cfg.kubernetes.gateway_node_port},
                                        {"port": 443, "nodePort": cfg.kubernetes.gateway_tls_node_port},
                                    ]
                                }
                            },
                        },
                    },
                    "envoyDeployment": {"replicas": 1, "container": {"resources": values.resources("100m", "128Mi")}},
                },
            }
        },
    }
    gw_class = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": _meta(gateway_class(cfg)),
        "spec": {
            "controllerName": ENVOY_CONTROLLER,
            "parametersRef": {
                "group": "gateway.envoyproxy.io",
                "kind": "EnvoyProxy",
                "name": gateway_class(cfg),
                "namespace": platform,
            },
        },
    }
    return [proxy, gw_class, gw, redirect, registry_route, *policies.gateway_policies(cfg)]


def service_monitors(cfg: Config) -> list[dict[str, Any]]:
    """One ServiceMonitor per environment: the model servers' /metrics, scraped as often as the canary gate
    assumes (`gates.canary.prometheus_scrape_seconds`). Series get the env's `namespace` label, which the gate's
    selector matches."""
    platform = names.platform_namespace(cfg)
    interval = f"{int(cfg.gates.canary.prometheus_scrape_seconds)}s"
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": _meta(f"model-server-{env}", platform, **{"cxops.dev/env": env}),
            "spec": {
                "namespaceSelector": {"matchNames": [names.env_namespace(cfg, env)]},
                "selector": {"matchLabels": dict(SERVING_SELECTOR)},
                "endpoints": [{"port": "http", "path": "/metrics", "interval": interval}],
            },
        }
        for env in ENV_NAMES
    ]


def monitoring(cfg: Config) -> list[dict[str, Any]]:
    """ServiceMonitors for every env's model servers and the serving PrometheusRule (MLflow's and the Argo
    controller's ServiceMonitors come from their charts' values)."""
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _meta("cxops-serving", names.platform_namespace(cfg)),
        "spec": rules.rule_spec(cfg),
    }
    return [*service_monitors(cfg), rule]


def workflow_rbac(cfg: Config) -> list[dict[str, Any]]:
    """The workflows' ServiceAccount and the only permission their pods need from the API: the Argo executor
    reporting step results (workflowtaskresults create/patch). Git, MLflow, S3 and ArgoCD are reached with the
    Secrets the templates mount, never with Kubernetes RBAC."""
    ns, sa = names.workflows_namespace(cfg), cfg.workflows.service_account
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(sa, ns),
        "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(sa, ns),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
    }
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(sa, ns),
        "automountServiceAccountToken": True,
    }
    return [account, role, binding]


def _service(name: str, namespace: str, port: int, selector: dict[str, str], target: int | str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, namespace),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}],
        },
    }


def platform_services(cfg: Config) -> list[dict[str, Any]]:
    """The Service names cxops.yaml and the workflows use (names.mlflow_tracking_uri, s3_endpoint_url,
    prometheus_url), each selecting the pods its chart runs, so no chart's naming leaks into the contract."""
    ns = names.platform_namespace(cfg)
    out = [
        _service(
            "mlflow",
            ns,
            5000,
            {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": values.MLFLOW_RELEASE},
            5000,
        ),
        _service(
            "prometheus",
            ns,
            9090,
            {
                "app.kubernetes.io/name": "prometheus",
                "operator.prometheus.io/name": f"{values.MONITORING_FULLNAME}-prometheus",
            },
            9090,
        ),
        _service(
            names.REGISTRY_SERVICE,
            ns,
            values.REGISTRY_PORT,
            {"app": "docker-registry", "release": values.REGISTRY_RELEASE},
            5000,
        ),
    ]
    if cfg.platform.object_store == "seaweedfs":
        out.append(
            _service(
                "s3",
                ns,
                values.S3_PORT,
                {
                    "app.kubernetes.io/name": "seaweedfs",
                    "app.kubernetes.io/instance": values.OBJECT_STORE_RELEASE,
                    "app.kubernetes.io/component": "seaweedfs-all-in-one",
                },
                values.S3_PORT,
            )
        )
    return out
