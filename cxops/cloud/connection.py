"""Connect to OpenStack the way the OpenStack CLI does: clouds.yaml (or OS_CLIENT_CONFIG_FILE) + OS_CLOUD.

Application credentials (`auth_type: v3applicationcredential`) work like any other clouds.yaml entry.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from cxops.errors import CxopsError
from cxops.settings import settings

if TYPE_CHECKING:
    from openstack.config.loader import OpenStackConfig
    from openstack.connection import Connection


def resolve_cloud_name(cloud: str | None = None) -> str:
    """--cloud wins, then OS_CLOUD, then cxops.yaml's cloud.name."""
    if cloud:
        return cloud
    if (env_cloud := settings().os_cloud) is not None:
        return env_cloud
    try:
        from cxops.config import load_config

        return load_config().cloud.name
    except CxopsError as exc:
        raise CxopsError(f"no cloud selected: pass --cloud NAME, set OS_CLOUD, or fix cxops.yaml ({exc})") from exc


def search_dirs() -> list[str]:
    """The folders searched for clouds.yaml, in order: openstacksdk's (the working directory, the user's config
    folder ~/.config/openstack, the system's /etc/openstack; from the installed openstack.config.loader), with the
    project's folder (beside cxops.yaml) right after the working directory: a command run below the project root
    (a notebook's kernel runs in notebooks/) reads the project's git-ignored clouds.yaml as one run at the root."""
    from openstack.config import loader

    from cxops.config.loader import find_config

    dirs = list(loader.CONFIG_SEARCH_PATH)
    found = find_config() if not settings().config else None
    if found is not None and str(found.parent) not in dirs:
        dirs.insert(1, str(found.parent))
    return list(dict.fromkeys(dirs))


def openstack_config() -> OpenStackConfig:
    """openstacksdk's configuration read from `search_dirs()` ($OS_CLIENT_CONFIG_FILE first, as openstacksdk does)."""
    from openstack.config import loader

    suffixes = (*loader.YAML_SUFFIXES, *loader.JSON_SUFFIXES)
    files = [os.path.join(d, "clouds" + s) for d in search_dirs() for s in suffixes]
    return loader.OpenStackConfig(config_files=files)


def known_clouds() -> tuple[list[str], list[str]]:
    """(cloud names, the clouds.yaml read): empty lists when there is no clouds.yaml."""
    cfg = openstack_config()
    names = sorted(n for n in cfg.get_cloud_names() if n != "defaults")
    return names, [cfg.config_filename] if cfg.config_filename else []


def search_path() -> list[str]:
    """Where clouds.yaml is looked for, in order, for messages: $OS_CLIENT_CONFIG_FILE, then `search_dirs()`."""
    from cxops.settings import settings

    env = settings().os_client_config_file
    out = [f"$OS_CLIENT_CONFIG_FILE ({env})" if env else "$OS_CLIENT_CONFIG_FILE (unset)"]
    return out + [os.path.join(d, "clouds.yaml") for d in search_dirs()]


def home_clouds_yaml() -> str:
    """The per-user clouds.yaml every OpenStack client reads: ~/.config/openstack/clouds.yaml, expanded."""
    from openstack.config import loader

    return os.path.join(loader.UNIX_CONFIG_HOME, "clouds.yaml")


def connect(cloud: str | None = None) -> Connection:
    """An authenticated connection; a CxopsError naming the cloud and what exists when it cannot be made."""
    from keystoneauth1 import exceptions as ks_exc
    from openstack import exceptions as os_exc
    from openstack.connection import Connection

    name = resolve_cloud_name(cloud)
    names, files = known_clouds()
    if not files:
        raise CxopsError(
            f"cloud {name!r}: no clouds.yaml found; looked in, in order: {', '.join(search_path())} "
            "(.yml and .json are read too). Save the clouds.yaml of an application credential (notebook 01) as "
            f"{home_clouds_yaml()}, or set OS_CLIENT_CONFIG_FILE to its path (docs/openstack.md)"
        )
    if name not in names:
        raise CxopsError(
            f"cloud {name!r} is not in clouds.yaml (read: {', '.join(files)}); "
            f"known clouds: {', '.join(names) or 'none'}"
        )
    # keystoneauth logs a warning per failed version discovery; the one-line error below says it instead
    logging.getLogger("keystoneauth").setLevel(logging.ERROR)
    try:
        conn = Connection(config=openstack_config().get_one(cloud=name))
        conn.authorize()  # fail here, with a clear message, rather than in the first call
    except (ks_exc.Unauthorized, os_exc.HttpException) as exc:
        raise CxopsError(f"cloud {name!r}: authentication failed: {exc}") from exc
    except ks_exc.ConnectFailure as exc:
        raise CxopsError(f"cloud {name!r}: cannot reach the identity endpoint: {exc}") from exc
    except os_exc.ConfigException as exc:
        raise CxopsError(f"cloud {name!r}: bad clouds.yaml entry: {exc}") from exc
    except os_exc.SDKException as exc:  # openstacksdk wraps keystoneauth's errors, a refused connection among them
        if isinstance(exc.__cause__ or exc.__context__, ks_exc.ConnectFailure):
            raise CxopsError(f"cloud {name!r}: cannot reach the identity endpoint (down?): {exc}") from exc
        raise CxopsError(f"cloud {name!r}: cannot authenticate: {exc}") from exc
    return conn
