"""TLS for the gateway: cert-manager (its pinned chart) and the issuers and certificate the HTTPS listener uses.

Without kubernetes.domain the cluster makes its own CA: a self-signed ClusterIssuer signs one CA Certificate
(`<project>-ca`, in cert-manager's cluster resource namespace, the platform's), and a CA ClusterIssuer signs the
gateway's certificate with it; clients trust that CA's `ca.crt` (docs/security.md). With a domain, an ACME
ClusterIssuer gets a publicly trusted certificate by HTTP-01, answered through the Gateway's HTTP listener
(cert-manager's Gateway API support, `enableGatewayAPI` in its ControllerConfiguration).

Fields from cert-manager v1.21.1's CRDs (`cert-manager.io/v1` Certificate, ClusterIssuer) and its chart's
values.yaml at that tag (github.com/cert-manager/cert-manager, deploy/).
"""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.config.schema import Config
from cxops.k8s import values

API = "cert-manager.io/v1"
LABELS = {"app.kubernetes.io/part-of": "cxops"}


def cert_manager_values(cfg: Config) -> dict[str, Any]:
    """cert-manager chart: its CRDs (kept on uninstall, they hold issued certificates), Gateway API support on,
    leader election in the platform namespace (the chart's default, kube-system, is outside the AppProject's
    destinations: ArgoCD would refuse the whole Application)."""
    return {
        "global": {"leaderElection": {"namespace": names.platform_namespace(cfg)}},
        "crds": {"enabled": True, "keep": True},
        "config": {
            "apiVersion": "controller.config.cert-manager.io/v1alpha1",
            "kind": "ControllerConfiguration",
            "enableGatewayAPI": True,
        },
        "resources": values.resources("50m", "128Mi"),
        "webhook": {"resources": values.resources("50m", "64Mi")},
        "cainjector": {"resources": values.resources("50m", "128Mi")},
        "startupapicheck": {"resources": values.resources("50m", "64Mi")},
    }


def _issuer(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ClusterIssuer",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": spec,
    }


def _certificate(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS)},
        "spec": spec,
    }


def gateway_hosts(cfg: Config) -> list[str]:
    """DNS names the gateway's certificate covers: the domain when set, else `<project>.local` (a name for the
    self-signed certificate; clients reaching the floating IP verify against the CA, see docs/security.md)."""
    return [cfg.kubernetes.domain] if cfg.kubernetes.domain else [f"{cfg.project.name}.local"]


def issuers(cfg: Config) -> list[dict[str, Any]]:
    """The ClusterIssuers (and, without a domain, the CA certificate) the gateway's certificate needs."""
    k = cfg.kubernetes
    if k.domain:
        acme = {
            "server": k.acme_server,
            "email": k.acme_email,
            "privateKeySecretRef": {"name": f"{cfg.project.name}-acme-account"},
            "solvers": [{"http01": {"gatewayHTTPRoute": {"parentRefs": [names.gateway_ref(cfg, names.GATEWAY_HTTP)]}}}],
        }
        return [_issuer(names.cluster_issuer(cfg), {"acme": acme})]
    selfsigned = f"{cfg.project.name}-selfsigned"
    ca = _certificate(
        names.ca_secret(cfg),
        names.platform_namespace(cfg),
        {
            "isCA": True,
            "commonName": f"{cfg.project.name} cluster CA",
            "secretName": names.ca_secret(cfg),
            "duration": "87600h",  # ten years: the trust anchor users install once
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": selfsigned},
        },
    )
    return [
        _issuer(selfsigned, {"selfSigned": {}}),
        ca,
        _issuer(names.cluster_issuer(cfg), {"ca": {"secretName": names.ca_secret(cfg)}}),
    ]


def gateway_certificate(cfg: Config) -> dict[str, Any]:
    """The HTTPS listener's certificate (Secret names.gateway_tls_secret), renewed by cert-manager."""
    return _certificate(
        names.gateway_tls_secret(cfg),
        names.platform_namespace(cfg),
        {
            "secretName": names.gateway_tls_secret(cfg),
            "dnsNames": gateway_hosts(cfg),
            "duration": "2160h",  # 90 days, renewed 30 days before
            "renewBefore": "720h",
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": names.cluster_issuer(cfg)},
        },
    )


def objects(cfg: Config) -> list[dict[str, Any]]:
    """Everything TLS renders into the gateway-config component."""
    return [*issuers(cfg), gateway_certificate(cfg)]
