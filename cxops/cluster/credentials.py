"""One credential on request: `cxops cluster credentials SERVICE` reads a login from its Kubernetes Secret and shows
it on the terminal only.

The Secrets are the catalogue's (cxops.cluster_secrets), created once by the cluster install with random values.
The value goes to a terminal and nowhere else: with stdout not a TTY (a pipe, a file, a CI log) the command refuses
before it asks the cluster, and says the kubectl line that reads the Secret deliberately instead. kubectl (the
`CXOPS_KUBECTL` program, default `kubectl` on PATH) talks to the API with the kubeconfig `cxops cluster kubeconfig`
wrote (or `KUBECONFIG`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from cxops import names
from cxops.cluster import kubectl
from cxops.cluster_secrets import MLFLOW_PASSWORD_KEY, MLFLOW_USER_KEY
from cxops.config.schema import Config
from cxops.errors import CxopsError


@dataclass(frozen=True)
class Login:
    """Where one service's login lives: Secret `namespace/secret`, its user and password keys."""

    service: str
    namespace: str
    secret: str
    user_key: str
    password_key: str

    def kubectl_hint(self) -> str:
        """The command that reads the password deliberately (the way to get it without a terminal)."""
        return (
            f"kubectl -n {self.namespace} get secret {self.secret} "
            f"-o jsonpath='{{.data.{self.password_key}}}' | base64 -d"
        )


def logins(cfg: Config) -> dict[str, Login]:
    """Service name → its login, for the services that keep one in a catalogued Secret."""
    platform = names.platform_namespace(cfg)
    rows = [
        Login(
            "argocd",
            names.argocd_namespace(cfg),
            names.argocd_operator_secret(cfg),
            "username",
            "password",
        ),
        Login("mlflow", platform, names.mlflow_admin_secret(cfg), MLFLOW_USER_KEY, MLFLOW_PASSWORD_KEY),
        Login("grafana", platform, names.grafana_admin_secret(cfg), "admin-user", "admin-password"),
        Login("s3", platform, cfg.workflows.s3_secret, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        Login("postgres", platform, names.postgres_app_secret(cfg), "username", "password"),
    ]
    return {r.service: r for r in rows}


def find(cfg: Config, service: str) -> Login:
    """The login of `service`; CxopsError naming the valid services otherwise."""
    table = logins(cfg)
    if service not in table:
        raise CxopsError(f"no credential for {service!r}; one of: {', '.join(table)}")
    return table[service]


def require_terminal(login: Login, is_tty: bool) -> None:
    """Refuse (CxopsError, one line) unless the value would go to a terminal."""
    if not is_tty:
        raise CxopsError(
            f"refusing to print a credential: stdout is not a terminal; to read it anyway: {login.kubectl_hint()}"
        )


def read(login: Login, kubeconfig: Path | None) -> tuple[str, str]:
    """(user, password) from the Secret through kubectl. CxopsError (never the value) when kubectl is missing, the
    cluster cannot be reached, or the Secret or a key does not exist."""
    proc = kubectl.run(["-n", login.namespace, "get", "secret", login.secret, "-o", "json"], kubeconfig)
    if proc.returncode != 0:
        raise CxopsError(f"cannot read Secret {login.namespace}/{login.secret}: {kubectl.first_line(proc.stderr)}")
    try:
        data = json.loads(proc.stdout).get("data") or {}
        user, password = (base64.b64decode(data[k]).decode() for k in (login.user_key, login.password_key))
    except (ValueError, KeyError) as exc:
        raise CxopsError(f"Secret {login.namespace}/{login.secret} lacks key {exc} or is not a Secret") from None
    return user, password
