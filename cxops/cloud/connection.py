"""Connect to OpenStack the way the OpenStack CLI does: clouds.yaml (or OS_CLIENT_CONFIG_FILE) + OS_CLOUD.

Application credentials (`auth_type: v3applicationcredential`) work like any other clouds.yaml entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxops.errors import CxopsError
from cxops.settings import settings

if TYPE_CHECKING:
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


def known_clouds() -> tuple[list[str], list[str]]:
    from openstack.config import loader

    cfg = loader.OpenStackConfig()
    names = sorted(n for n in cfg.get_cloud_names() if n != "defaults")
    return names, [cfg.config_filename] if cfg.config_filename else []


def connect(cloud: str | None = None) -> Connection:
    """An authenticated connection; a CxopsError naming the cloud and what exists when it cannot be made."""
    import openstack
    from keystoneauth1 import exceptions as ks_exc
    from openstack import exceptions as os_exc

    name = resolve_cloud_name(cloud)
    names, files = known_clouds()
    if name not in names:
        where = ", ".join(files) or "no clouds.yaml found"
        raise CxopsError(
            f"cloud {name!r} is not in clouds.yaml (searched: {where}); known clouds: {', '.join(names) or 'none'}"
        )
    try:
        conn = openstack.connect(cloud=name)
        conn.authorize()  # fail here, with a clear message, rather than in the first call
    except (ks_exc.Unauthorized, os_exc.HttpException) as exc:
        raise CxopsError(f"cloud {name!r}: authentication failed: {exc}") from exc
    except ks_exc.ConnectFailure as exc:
        raise CxopsError(f"cloud {name!r}: cannot reach the identity endpoint: {exc}") from exc
    except os_exc.ConfigException as exc:
        raise CxopsError(f"cloud {name!r}: bad clouds.yaml entry: {exc}") from exc
    return conn
