"""Which clouds.yaml openstacksdk reads, so that the Terraform provider reads the very same file.

openstacksdk (cxops' preflight) looks in OS_CLIENT_CONFIG_FILE, then clouds.yaml/.yml/.json in the current
directory, ~/.config/openstack, /etc/xdg/openstack and /etc/openstack (openstack.config.loader.CONFIG_FILES). The
Terraform OpenStack provider (gophercloud/utils clientconfig) searches OS_CLIENT_CONFIG_FILE, its *own* current
directory, ~/.config/openstack and /etc/openstack; Terraform runs it in tf/ (`-chdir`), so a clouds.yaml in the
repository root is invisible to it. cxops therefore hands the provider the absolute path
openstacksdk resolved, in OS_CLIENT_CONFIG_FILE (and OS_CLIENT_SECURE_FILE for a secure.yaml beside it).
"""

from __future__ import annotations

from pathlib import Path

from cxops.errors import CxopsError

ENV_FILE = "OS_CLIENT_CONFIG_FILE"
ENV_SECURE = "OS_CLIENT_SECURE_FILE"


def provider_env(cloud: str) -> dict[str, str]:
    """{OS_CLIENT_CONFIG_FILE: absolute path[, OS_CLIENT_SECURE_FILE: …]} of the file that defines `cloud`.

    Raises CxopsError (one line: where it looked, what would work) when OS_CLIENT_CONFIG_FILE names a missing file,
    when no clouds.yaml exists, or when the file found has no entry `cloud`."""
    from cxops.cloud.connection import openstack_config, search_dirs
    from cxops.settings import settings

    named = settings().os_client_config_file
    if named and not Path(named).is_file():
        raise CxopsError(f"{ENV_FILE}={named}: no such file; point it at your clouds.yaml or unset it")
    # the same search as every other cxops command (the project's folder included), so the provider gets the very
    # file the preflight read
    cfg = openstack_config()
    if not cfg.config_filename:
        home = str(Path.home())
        looked = ", ".join(d.replace(home, "~", 1) if d.startswith(home) else d for d in search_dirs())
        raise CxopsError(
            f"cloud {cloud!r}: no clouds.yaml found (looked in {looked}); put it in the project's "
            f"folder (beside cxops.yaml) or in ~/.config/openstack, or set {ENV_FILE}"
        )
    found = str(Path(cfg.config_filename).resolve())
    names = sorted(n for n in cfg.get_cloud_names() if n != "defaults")
    if cloud not in names:
        raise CxopsError(
            f"cloud {cloud!r} is not in {found} (clouds there: {', '.join(names) or 'none'}); add it, or set "
            "cloud.name in cxops.yaml to one of them"
        )
    env = {ENV_FILE: found}
    if cfg.secure_config_filename:
        env[ENV_SECURE] = str(Path(cfg.secure_config_filename).resolve())
    return env
