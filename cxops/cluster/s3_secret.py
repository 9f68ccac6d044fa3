"""The site's EC2 credentials into the cluster (`cxops cloud s3-credentials --to-cluster`), for
`platform.object_store: external`: the cluster's MLflow and the workflow pods then keep artifacts in the site's
object store (Chameleon: Swift through its S3 API) rather than in the platform's SeaweedFS.

They go into the Secret `workflows.s3_secret` in each namespace the catalogue (cxops.cluster_secrets) puts it (the
platform's, read by MLflow; the workflows', read by the steps), applied server-side through kubectl with the
manifest on stdin: no value in a process's arguments, in output or in git. The artifacts bucket is created first if
absent, since MLflow's server does not create it.
"""

from __future__ import annotations

import json
from pathlib import Path

from cxops.cloud.s3 import S3Credentials, ensure_bucket
from cxops.cluster import kubectl
from cxops.cluster_secrets import catalogue
from cxops.config.schema import Config
from cxops.errors import CxopsError

FIELD_MANAGER = "cxops"


def targets(cfg: Config) -> list[tuple[str, str]]:
    """(namespace, name) of every S3 Secret the catalogue lists, in its order."""
    return [(s.namespace, s.name) for s in catalogue(cfg) if s.name == cfg.workflows.s3_secret]


def check_store(cfg: Config) -> None:
    """CxopsError (one line) unless the cluster uses the site's store (`platform.object_store: external`)."""
    if cfg.platform.object_store != "external":
        raise CxopsError(
            f"--to-cluster is for platform.object_store: external; it is {cfg.platform.object_store!r}, whose "
            "credentials `cxops cluster install` generates (set external and workflows.s3_endpoint_url to use the "
            "site's store)"
        )


def check_endpoint(cfg: Config, creds: S3Credentials) -> None:
    """CxopsError (one line) unless `workflows.s3_endpoint_url` is the endpoint these credentials are for."""
    configured = (cfg.workflows.s3_endpoint_url or "").rstrip("/")
    if configured != creds.endpoint_url.rstrip("/"):
        raise CxopsError(
            f"workflows.s3_endpoint_url is {configured!r} but the credentials are for {creds.endpoint_url}; set it "
            "to that URL (the cloud's object-store endpoint without its path)"
        )


def manifest(cfg: Config, creds: S3Credentials) -> dict:
    """A v1 List of each S3 Secret's Namespace and the Secret (keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""
    items: list[dict] = []
    for namespace, name in targets(cfg):
        items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "cxops"}},
                "stringData": {"AWS_ACCESS_KEY_ID": creds.access_key, "AWS_SECRET_ACCESS_KEY": creds.secret_key},
            }
        )
    return {"apiVersion": "v1", "kind": "List", "items": items}


def to_cluster(cfg: Config, creds: S3Credentials, kubeconfig: Path | None) -> tuple[bool, list[str]]:
    """Check the config, create the artifacts bucket if absent, and apply the S3 Secrets. Returns (bucket created,
    ["namespace/name", …] applied). CxopsError (one line, no value) when the config does not match, the store or the
    API server is down, the credentials are refused, or the API server refuses the Secrets. The API server is asked
    first (may this kubeconfig create them?), so a cluster that is down leaves no bucket behind; nothing is applied
    when the bucket step fails."""
    check_store(cfg)
    check_endpoint(cfg, creds)
    for namespace, name in targets(cfg):  # the API server first: a bucket made for a cluster that is down stays
        proc = kubectl.run(["auth", "can-i", "create", "secrets", "--namespace", namespace], kubeconfig)
        if proc.stdout.strip() != "yes":
            why = kubectl.first_line(proc.stderr) if proc.returncode not in (0, 1) else "kubectl auth can-i: no"
            raise CxopsError(f"the cluster's kubeconfig may not create Secret {namespace}/{name} ({why})")
    created = ensure_bucket(creds, cfg.platform.artifacts_bucket)
    proc = kubectl.run(
        ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts", "-f", "-"],
        kubeconfig,
        stdin=json.dumps(manifest(cfg, creds)),
    )
    if proc.returncode != 0:
        raise CxopsError(f"the API server refused the S3 Secrets: {kubectl.first_line(proc.stderr)}")
    return created, [f"{namespace}/{name}" for namespace, name in targets(cfg)]
