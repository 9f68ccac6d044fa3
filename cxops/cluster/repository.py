"""The GitOps repository ArgoCD follows and the credential the cluster install gives it (docs/cluster.md).

ArgoCD reads a private repository (any SSH URL) only with a Secret labelled `argocd.argoproj.io/secret-type:
repository` in its namespace holding the URL and a credential (ArgoCD's declarative setup: keys `type`, `url`, and
`sshPrivateKey`, or `username` and `password`). The gitops_bootstrap role creates it from the file named by
`workflows.gitops_credentials_file`; this module finds that file and refuses, before Ansible starts, one that could
not work. It never reads a value into anything but the check.
"""

from __future__ import annotations

from pathlib import Path

from cxops import names
from cxops.config.schema import Config
from cxops.errors import CxopsError

KEY = "workflows.gitops_credentials_file"
HTTPS_KEYS = ("username", "password")


def is_ssh_url(url: str) -> bool:
    """True for ssh://... and scp-like user@host:path URLs (ArgoCD then needs an SSH private key)."""
    return url.startswith("ssh://") or ("://" not in url and "@" in url.split(":", 1)[0])


def credentials_file(cfg: Config, project_root: Path) -> Path | None:
    """The credential file's absolute path (a relative one is beside cxops.yaml), or None when unset."""
    value = cfg.workflows.gitops_credentials_file
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else project_root / path


def check_credentials(cfg: Config, project_root: Path) -> None:
    """The credential file fits the repository URL: an SSH private key for an SSH URL, `username=`/`password=`
    lines for HTTPS (optional there: a public repository needs none). Raises CxopsError, one line, naming the file
    and what it must hold (never its content)."""
    url = names.gitops_repo_url(cfg)
    path = credentials_file(cfg, project_root)
    if path is None:
        if is_ssh_url(url):
            raise CxopsError(
                f"{KEY} is unset but ArgoCD follows the SSH URL {url!r}: set it to the deploy key's private key file"
            )
        return
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CxopsError(f"{KEY} {str(path)!r} is not readable ({exc.__class__.__name__})") from None
    if is_ssh_url(url):
        if "PRIVATE KEY-----" not in text:
            raise CxopsError(
                f"{KEY} {str(path)!r} holds no SSH private key, which the SSH URL {url!r} needs "
                "(the deploy key's private key, OpenSSH format)"
            )
        return
    keys = {line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line}
    if not set(HTTPS_KEYS) <= keys:
        raise CxopsError(
            f"{KEY} {str(path)!r} lacks a line username=<user> or password=<token>, which the HTTPS URL {url!r} needs"
        )
