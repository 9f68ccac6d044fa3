"""The configuration the pipeline's steps run with in the cluster, and the lab values a cluster must never get.

The rendered WorkflowTemplates set `CXOPS_EXECUTOR=argo` in every step container. Under it `load_config` returns
`cluster_view(cfg)`: the GitOps remote the steps push to (`workflows.gitops_remote`, else `gitops.remote`) and each
environment's URL (`environments.<env>.url`, else its in-cluster Service), and refuses a configuration that would
send a step to the embedded lab (no remote, a local path, loopback URLs). `cxops workflows render` refuses the same
values, plus a tools image in the cxops project's own organisation, which no operator can push to.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from cxops.config.schema import Config
from cxops.environments import ENV_NAMES
from cxops.errors import ConfigError, UsageError

EXECUTOR_ENV = "CXOPS_EXECUTOR"
EXECUTORS = ("local", "argo")  # local: this machine (the lab, or a remote named in cxops.yaml); argo: a step pod
# The cxops project's own namespaces (its source and its sample image names): an operator cannot push there.
UPSTREAM_PREFIXES = ("ghcr.io/cxops/", "docker.io/cxops/", "github.com/cxops/")
SERVING_SERVICE = "model-server"  # k8s/serving/base/service.yaml: the Service in each env's namespace, port 80


def executor() -> str:
    """`local` or `argo` from CXOPS_EXECUTOR (unset = local). UsageError naming the bad value otherwise."""
    from cxops.settings import settings

    value = (settings().executor or "local").lower()
    if value not in EXECUTORS:
        raise UsageError(f"{EXECUTOR_ENV}={value!r} is not an executor; valid: {', '.join(EXECUTORS)}")
    return value


def in_cluster() -> bool:
    """True inside a rendered workflow's step (CXOPS_EXECUTOR=argo): the embedded lab is never started there."""
    return executor() == "argo"


def service_url(cfg: Config, env: str) -> str:
    """The in-cluster URL of one environment's model server: `http://model-server.<prefix>-<env>.svc.cluster.local`
    (Kubernetes DNS for Services; port 80 of k8s/serving/base/service.yaml)."""
    from cxops import names

    return f"http://{SERVING_SERVICE}.{names.env_namespace(cfg, env)}.svc.cluster.local"


def gitops_remote(cfg: Config) -> str | None:
    """The GitOps remote the cluster's steps push to: `workflows.gitops_remote`, else `gitops.remote`."""
    return cfg.workflows.gitops_remote or cfg.gitops.remote


def is_network_remote(remote: str) -> bool:
    """True for a git URL another machine can reach: `scheme://...` other than file://, or scp-like `user@host:path`."""
    if "://" in remote:
        return not remote.startswith("file://")
    user_host, sep, _ = remote.partition(":")
    return bool(sep) and "@" in user_host and "/" not in user_host


def is_loopback_url(url: str) -> bool:
    """True when URL names this host (localhost, 127.0.0.0/8, ::1, 0.0.0.0): in a pod that is the pod itself."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _upstream(value: str) -> bool:
    """True for an image or git URL in the cxops project's own organisation (any scheme, scp-like or not)."""
    text = value.lower().split("://", 1)[-1]
    text = text.split("@", 1)[-1] if "@" in text.split("/", 1)[0] else text  # user@ of ssh/scp-like URLs
    host, sep, rest = text.partition("/")
    if ":" in host and not host.split(":", 1)[1].isdigit():  # scp-like host:path (a port is digits)
        host, rest, sep = host.split(":", 1)[0], host.split(":", 1)[1] + sep + rest, "/"
    if "." not in host and ":" not in host and host != "localhost":  # a Docker Hub short name: cxops/tools:1
        host, rest, sep = "docker.io", text, "/"
    return any(f"{host}{sep}{rest}".startswith(p) for p in UPSTREAM_PREFIXES)


def is_upstream(url: str) -> bool:
    """True for a git URL in the cxops project's own organisation (e.g. https://github.com/cxops/cxops.git)."""
    return _upstream(url)


def _classify_remote(cfg: Config) -> tuple[str, str | None, str]:
    """(the key that set it, the remote, its kind): "unset", "path" (a bare local path), "file" (file://),
    "upstream" (the cxops project's own repository) or "network". One classifier; each caller words its line."""
    remote = gitops_remote(cfg)
    key = "workflows.gitops_remote" if cfg.workflows.gitops_remote else "gitops.remote"
    if remote is None:
        return key, None, "unset"
    if not is_network_remote(remote):
        return key, remote, "file" if "://" in remote else "path"
    return key, remote, "upstream" if _upstream(remote) else "network"


def argocd_repo_problem(cfg: Config) -> str | None:
    """Why ArgoCD could not follow the operator's GitOps repository, as one line (None: it can).

    ArgoCD follows the remote the steps push to (`gitops_remote`): refused when there is none, when it is a bare
    local path (no scheme: nothing in a cluster reads it) or when it is the cxops project's own repository. A
    file:// URL passes: ArgoCD's repo-server reads it when the path is mounted (the tests' single-host ArgoCD)."""
    key, remote, kind = _classify_remote(cfg)
    if kind == "unset":
        return (
            "no GitOps repository for ArgoCD to follow: set workflows.gitops_remote in cxops.yaml to your "
            "repository's URL (git@host:owner/repo.git or https://host/owner/repo.git), the one the steps push to"
        )
    if kind == "path":
        return (
            f"{key} {remote!r} is a local path, which ArgoCD cannot read; set your GitOps repository's URL "
            "(git@host:owner/repo.git or https://host/owner/repo.git)"
        )
    if kind == "upstream":
        return (
            f"{key} {remote!r} is the cxops project's own repository, not yours; set your fork's URL "
            "(git@host:owner/repo.git or https://host/owner/repo.git)"
        )
    return None


def _remote_problem(cfg: Config) -> str | None:
    """Why a step in a pod could not push to the GitOps remote, as one line (None: it can)."""
    key, remote, kind = _classify_remote(cfg)
    if kind == "unset":
        return (
            "workflows.gitops_remote is unset (and gitops.remote too): a step in the cluster would use the lab's "
            "local bare repository; set it to your GitOps repository's SSH URL, e.g. git@github.com:<you>/<repo>.git"
        )
    if kind in ("path", "file"):
        return (
            f"{key} {remote!r} is a local path, which no pod can reach; set a network git URL, "
            "e.g. git@github.com:<you>/<repo>.git"
        )
    if kind == "upstream":
        return f"{key} {remote!r} is the cxops project's own repository, which you cannot push to; name your fork"
    return None


def _url_problems(cfg: Config) -> list[str]:
    out = []
    for env in ENV_NAMES:
        url = cfg.environments.get(env).url
        if url and is_loopback_url(url):
            out.append(
                f"environments.{env}.url {url!r} is a loopback address, which in a pod is the pod itself; unset it "
                f"(the cluster uses {service_url(cfg, env)}) or name a Service"
            )
    w = cfg.workflows
    for key, url in (
        ("mlflow_tracking_uri", w.mlflow_tracking_uri),
        ("s3_endpoint_url", w.s3_endpoint_url),
        ("prometheus_url", w.prometheus_url),
        ("argocd_server", w.argocd_server),
    ):
        if url and is_loopback_url(url):
            out.append(
                f"workflows.{key} {url!r} is a loopback address, which in a pod is the pod itself; "
                "unset it (the platform's in-cluster Service) or name a Service"
            )
    return out


def problems(cfg: Config, *, render: bool = False) -> list[str]:
    """One line per lab value the cluster cannot run with (empty = fine). `render` adds the checks that matter only
    when writing templates (the tools image's organisation)."""
    from cxops import names

    out = [p for p in (_remote_problem(cfg),) if p] + _url_problems(cfg)
    if render and _upstream(names.tools_image(cfg)):
        out.append(
            f"workflows.tools_image {names.tools_image(cfg)!r} is in the cxops project's own organisation, which you "
            f"cannot push to; unset it (default {names.registry_host(cfg)}/... in your platform registry) "
            "or name an image in a registry you own"
        )
    return out


def check_render(cfg: Config) -> None:
    """ConfigError (exit 2), one line per bad value, when cxops.yaml still holds lab values a cluster cannot use."""
    if found := problems(cfg, render=True):
        raise ConfigError([f"cxops workflows render: {p}" for p in found])


def cluster_view(cfg: Config) -> Config:
    """CFG as a step in the cluster sees it: `gitops.remote` = the cluster's remote, each environment's URL its
    Service's unless cxops.yaml names one. ConfigError when a lab value is left (the lab is never started there)."""
    if found := problems(cfg):
        raise ConfigError([f"{EXECUTOR_ENV}=argo: {p}" for p in found])
    envs = {}
    for env in ENV_NAMES:
        e = cfg.environments.get(env)
        envs[env] = e.model_copy(update={"url": e.url or service_url(cfg, env)})
    return cfg.model_copy(
        update={
            "gitops": cfg.gitops.model_copy(update={"remote": gitops_remote(cfg)}),
            "environments": cfg.environments.model_copy(update=envs),
        }
    )
