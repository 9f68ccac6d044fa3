"""An Octavia provider driver for the cxops local OpenStack: Octavia's own no-op driver plus status reports.

There are no amphorae (no guests can boot here). Octavia's no-op provider accepts every call but never reports a
status back, so every object would stay PENDING_CREATE and nothing could be added to a load balancer. This driver
does what a provider's status reports do: a thread in the API process settles every pending object through Octavia's
own DriverUpdater (PENDING_CREATE/PENDING_UPDATE -> ACTIVE and ONLINE, PENDING_DELETE -> DELETED, children removed).
Everything else (API, validation against Neutron, database, quotas) is the real Octavia.
"""

import threading
import time

from octavia.api.drivers.driver_agent.driver_updater import DriverUpdater
from octavia.api.drivers.noop_driver.driver import NoopProviderDriver
from octavia.db import api as db_apis
from oslo_log import log as logging
from sqlalchemy import text

LOG = logging.getLogger(__name__)
# status-report key: table
TABLES = {
    "members": "member",
    "healthmonitors": "health_monitor",
    "l7rules": "l7rule",
    "l7policies": "l7policy",
    "pools": "pool",
    "listeners": "listener",
    "loadbalancers": "load_balancer",
}
SETTLED = {"PENDING_CREATE": "ACTIVE", "PENDING_UPDATE": "ACTIVE", "PENDING_DELETE": "DELETED"}
_started = threading.Lock()
_thread = None


# a load balancer deleted with cascade: Octavia marks only the load balancer; its provider removes the rest
CASCADE = {
    "listeners": "SELECT id FROM listener WHERE load_balancer_id = :lb",
    "pools": "SELECT id FROM pool WHERE load_balancer_id = :lb",
    "members": "SELECT m.id FROM member m JOIN pool p ON m.pool_id = p.id WHERE p.load_balancer_id = :lb",
    "healthmonitors": (
        "SELECT h.id FROM health_monitor h JOIN pool p ON h.pool_id = p.id WHERE p.load_balancer_id = :lb"
    ),
}


def pending_report(session) -> dict:
    report: dict = {}
    for key, table in TABLES.items():
        rows = session.execute(
            text(f"SELECT id, provisioning_status FROM {table} WHERE provisioning_status LIKE 'PENDING_%'")
        ).fetchall()
        entries = []
        for row_id, status in rows:
            entry = {"id": row_id, "provisioning_status": SETTLED[status]}
            if SETTLED[status] == "ACTIVE":
                entry["operating_status"] = "ONLINE"
            entries.append(entry)
        if entries:
            report[key] = entries
    for lb in [e["id"] for e in report.get("loadbalancers", []) if e["provisioning_status"] == "DELETED"]:
        for key, query in CASCADE.items():
            have = {e["id"] for e in report.get(key, [])}
            for (row_id,) in session.execute(text(query), {"lb": lb}).fetchall():
                if row_id not in have:
                    report.setdefault(key, []).append({"id": row_id, "provisioning_status": "DELETED"})
    return report


def settle_forever(interval: float = 0.3) -> None:
    updater = DriverUpdater()
    while True:
        time.sleep(interval)
        try:
            report = pending_report(db_apis.get_session())
            if report:
                updater.update_loadbalancer_status(report)
                LOG.info("lab provider settled %s", {k: len(v) for k, v in report.items()})
        except Exception:  # keep settling: one bad round must not freeze every later object
            LOG.exception("lab provider: settling failed")


class LabProviderDriver(NoopProviderDriver):
    def __init__(self):
        super().__init__()
        global _thread
        with _started:
            if _thread is None:
                _thread = threading.Thread(target=settle_forever, name="cxops-lab-settle", daemon=True)
                _thread.start()
