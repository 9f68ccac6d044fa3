"""Envoy Gateway policies attached to the Gateway and its routes: PROXY protocol from the public entry's load balancer,
the public route's rate limit and the registry's client-address rule.

Kinds and fields from Envoy Gateway v1.9.0's CRDs (`gateway.envoyproxy.io/v1alpha1` BackendTrafficPolicy
`spec.rateLimit.local.rules[].limit{requests,unit}`, SecurityPolicy `spec.authorization{defaultAction,rules}` with
`principal.clientCIDRs`, ClientTrafficPolicy `spec.proxyProtocol.optional`), the implementation k8s/platform/gateway
pins (cxops.k8s.charts). A policy lives in its target's namespace.
"""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.config.schema import Config

API = "gateway.envoyproxy.io/v1alpha1"
RATE_LIMIT_POLICY = "public-rate-limit"
REGISTRY_POLICY = "registry-private-network"
PROXY_PROTOCOL_POLICY = "proxy-protocol"


def _route_ref(name: str) -> dict[str, str]:
    return {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": name}


def rate_limit(cfg: Config) -> dict[str, Any]:
    """BackendTrafficPolicy on the production/canary route: at most kubernetes.public_rate_limit_rps requests per
    second through each Envoy replica (a local limit, no rate-limit service); the rest get HTTP 429."""
    return {
        "apiVersion": API,
        "kind": "BackendTrafficPolicy",
        "metadata": {
            "name": RATE_LIMIT_POLICY,
            "namespace": names.env_namespace(cfg, "production"),
            "labels": {"app.kubernetes.io/part-of": "cxops"},
        },
        "spec": {
            "targetRefs": [_route_ref(names.PUBLIC_ROUTE)],
            "rateLimit": {
                "local": {"rules": [{"limit": {"requests": cfg.kubernetes.public_rate_limit_rps, "unit": "Second"}}]}
            },
        },
    }


def private_networks(cfg: Config) -> list[str]:
    """Client networks the registry answers: the nodes' private network (containerd pulls) and the pod network
    (BuildKit pushes)."""
    return [cfg.cloud.network_cidr, cfg.kubernetes.pod_cidr]  # pod_cidr: Kubespray's kube_pods_subnet


def registry_rule(cfg: Config) -> dict[str, Any]:
    """SecurityPolicy on the registry's route: allowed only from the private networks, denied to everyone else (the
    gateway's HTTP port is open to the internet; the registry must not be)."""
    return {
        "apiVersion": API,
        "kind": "SecurityPolicy",
        "metadata": {
            "name": REGISTRY_POLICY,
            "namespace": names.platform_namespace(cfg),
            "labels": {"app.kubernetes.io/part-of": "cxops"},
        },
        "spec": {
            "targetRefs": [_route_ref("registry")],
            "authorization": {
                "defaultAction": "Deny",
                "rules": [
                    {"name": "private-network", "action": "Allow", "principal": {"clientCIDRs": private_networks(cfg)}}
                ],
            },
        },
    }


def proxy_protocol(cfg: Config) -> dict[str, Any]:
    """ClientTrafficPolicy on the Gateway: read the PROXY header the public entry's load balancer (tf/modules/gateway,
    pools of protocol PROXY) puts before every connection, so the rules above see the real client and not the load
    balancer's private address (which lies in the registry's allowed network). Optional: connections from inside
    the cluster come without one; only the load balancer and the cluster reach the NodePorts (tf/ security groups)."""
    return {
        "apiVersion": API,
        "kind": "ClientTrafficPolicy",
        "metadata": {
            "name": PROXY_PROTOCOL_POLICY,
            "namespace": names.platform_namespace(cfg),
            "labels": {"app.kubernetes.io/part-of": "cxops"},
        },
        "spec": {
            "targetRefs": [
                {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": cfg.kubernetes.gateway_name}
            ],
            "proxyProtocol": {"optional": True},
        },
    }


def gateway_policies(cfg: Config) -> list[dict[str, Any]]:
    """Every policy the gateway-config component renders."""
    return [proxy_protocol(cfg), rate_limit(cfg), registry_rule(cfg)]
