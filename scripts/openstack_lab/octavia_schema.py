"""Create Octavia's schema in the lab's PostgreSQL (run with Debian's Python: scripts/openstack-lab up).

Octavia's migrations are written for MySQL (`octavia-db-manage upgrade head` fails on PostgreSQL at
`DROP CONSTRAINT "PRIMARY"`), so the lab builds the tables from Octavia's own models and fills the lookup tables
from Octavia's own constants, as Octavia's functional tests do. Idempotent: nothing happens once the tables exist.
"""

from __future__ import annotations

import sys

from octavia.common import config, constants
from octavia.db import api as db_api
from octavia.db import base_models, models
from oslo_config import cfg
from sqlalchemy import inspect

# lookup model: the constants Octavia accepts for it
LOOKUPS = [
    (models.ProvisioningStatus, constants.SUPPORTED_PROVISIONING_STATUSES),
    (models.OperatingStatus, constants.SUPPORTED_OPERATING_STATUSES),
    (models.Protocol, constants.SUPPORTED_PROTOCOLS),
    (models.Algorithm, constants.SUPPORTED_LB_ALGORITHMS),
    (models.HealthMonitorType, constants.SUPPORTED_HEALTH_MONITOR_TYPES),
    (models.SessionPersistenceType, constants.SUPPORTED_SP_TYPES),
    (models.AmphoraRoles, constants.SUPPORTED_AMPHORA_ROLES),
    (models.LBTopology, constants.SUPPORTED_LB_TOPOLOGIES),
    (models.VRRPAuthMethod, constants.SUPPORTED_VRRP_AUTH),
    (models.L7RuleType, constants.SUPPORTED_L7RULE_TYPES),
    (models.L7RuleCompareType, constants.SUPPORTED_L7RULE_COMPARE_TYPES),
    (models.L7PolicyAction, constants.SUPPORTED_L7POLICY_ACTIONS),
    (models.ClientAuthenticationMode, constants.SUPPORTED_CLIENT_AUTH_MODES),
]


def main(conf_file: str) -> None:
    config.init(["--config-file", conf_file])
    engine = db_api.get_engine()
    if inspect(engine).has_table("load_balancer"):
        print("octavia schema: present")
        return
    base_models.BASE.metadata.create_all(engine)
    session = db_api.get_session(autocommit=False)
    for model, names in LOOKUPS:
        session.add_all(model(name=name) for name in names)
    # the placeholders Octavia points deleted load balancers' flavor and availability zone at
    nil = constants.NIL_UUID
    session.add(
        models.FlavorProfile(id=nil, name="DELETED-PLACEHOLDER", provider_name=constants.DELETED, flavor_data="{}")
    )
    session.flush()
    session.add(models.Flavor(id=nil, flavor_profile_id=nil, name="DELETED-PLACEHOLDER", enabled=False))
    session.add(
        models.AvailabilityZoneProfile(
            id=nil, name="DELETED-PLACEHOLDER", provider_name=constants.DELETED, availability_zone_data="{}"
        )
    )
    session.flush()
    session.add(models.AvailabilityZone(availability_zone_profile_id=nil, name=nil, enabled=False))
    session.commit()
    print(f"octavia schema: {len(base_models.BASE.metadata.tables)} tables created")


if __name__ == "__main__":
    cfg.CONF.reset()
    main(sys.argv[1])
