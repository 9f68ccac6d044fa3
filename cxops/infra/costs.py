"""What the cluster in cxops.yaml costs before it exists: service units (SU) and currency per lease and per hour.

How Chameleon charges (the sources; `costs.su_per_hour` in cxops.yaml is where a site's current figures go):

- An allocation is counted in service units; one SU is one hour of wall-clock time on a base bare-metal server
  (ChameleonCloud/docs, source/user/project.rst, "Service units", 2026; it defers the rates of specialized hardware
  and of KVM instances to the FAQ on chameleoncloud.org).
- KVM@TACC instances are charged by the share of a server they hold, not per instance: for virtual machines one SU
  is 24 cores (with up to 128 GB of RAM) for one hour, so an instance draws VCPUs / 24 SU per hour; a reservation is
  charged for its whole time whether used or not, and a cancelled one is not charged (the FAQ "What are the units of
  an allocation, and how am I charged?", ChameleonCloud/docs, source/getting-started/faq.rst). The current FAQ on
  the web site could not be read from here; the shipped figures follow that rule with the KVM@TACC flavor sizes
  (m1.medium 2 VCPUs, m1.large 4; ChameleonCloud/docs, source/technical/reservations/cli_reservations.rst).
- Leases: bare-metal leases last at most 7 days, and one within 48 hours of its end can be extended by up to 7 days;
  KVM@TACC leases of standard flavors up to 6 months, of GPU flavors 7 days (same repository,
  source/technical/reservations/gui_reservations.rst).

The currency figure is `costs.rates_per_hour` (what one hour of a flavor costs your allocation, the rate that also
prices each training run), `costs.default_rate` for a flavor not listed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from cxops.config.schema import Config
from cxops.errors import CxopsError, ExitCode


@dataclass(frozen=True)
class CostRow:
    """The nodes of one role: how many, on which flavor, for how long (hours), and what they draw."""

    role: str
    nodes: list[str]
    flavor: str
    hours: float
    su_per_hour: float  # per node
    rate_per_hour: float  # currency per node-hour
    su: float  # len(nodes) * su_per_hour * hours
    cost: float  # len(nodes) * rate_per_hour * hours


@dataclass(frozen=True)
class CostEstimate:
    """The cluster's cost for one lease of `hours`: per role, in total, and per hour of its existence."""

    hours: float
    currency: str
    rows: list[CostRow]
    su: float
    cost: float
    su_per_hour: float  # the whole cluster
    cost_per_hour: float

    def to_dict(self) -> dict:
        return asdict(self)


def parse_hours(text: str | None, cfg: Config) -> float:
    """The lease length in hours: `text` (the --hours option) or `costs.lease_hours`. CxopsError naming the value
    unless it is a finite number above zero."""
    if text is None:
        return cfg.costs.lease_hours
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if not math.isfinite(hours) or hours <= 0:
        raise CxopsError(f"--hours {text}: not a length of time; give the lease's hours as a number above 0, e.g. 168")
    return hours


def su_rate(cfg: Config, flavor: str, nodes: list[str]) -> float:
    """SU per hour of one node on `flavor`: `costs.su_per_hour`, else `costs.default_su_per_hour`. CxopsError (exit
    2: the configuration) naming the flavor, its nodes and the flavors that have a rate when neither gives one."""
    c = cfg.costs
    if flavor in c.su_per_hour:
        return c.su_per_hour[flavor]
    if c.default_su_per_hour is not None:
        return c.default_su_per_hour
    listed = ", ".join(sorted(c.su_per_hour)) or "none"
    raise CxopsError(
        f"costs.su_per_hour: no rate for flavor {flavor!r} (nodes {', '.join(nodes)}) and costs.default_su_per_hour "
        f"is unset; add {flavor}: <SU per hour> (flavors with a rate: {listed})",
        exit_code=ExitCode.USAGE,
    )


def estimate(cfg: Config, hours: float) -> CostEstimate:
    """What `cfg.cloud.nodes` draw for a lease of `hours` (> 0): one row per role (control, worker, gpu) in that
    order, with the nodes' count x flavor x hours → SU and currency. Raises CxopsError as `su_rate` does."""
    if not (math.isfinite(hours) and hours > 0):
        raise CxopsError(f"lease of {hours} hours: give a number of hours above 0")
    flavors = cfg.cloud.flavors
    rows = []
    for role in ("control", "worker", "gpu"):
        nodes = [n.name for n in cfg.cloud.nodes if n.role == role]
        if not nodes:
            continue
        flavor = getattr(flavors, role)
        if flavor is None:  # the schema requires flavors.gpu when a node has role gpu; kept for a clear message
            raise CxopsError(f"cloud.flavors.{role} is unset but nodes {', '.join(nodes)} have role {role}", 2)
        su_h, rate = su_rate(cfg, flavor, nodes), cfg.costs.rate(flavor)
        rows.append(
            CostRow(role, nodes, flavor, hours, su_h, rate, len(nodes) * su_h * hours, len(nodes) * rate * hours)
        )
    su_h = sum(len(r.nodes) * r.su_per_hour for r in rows)
    cost_h = sum(len(r.nodes) * r.rate_per_hour for r in rows)
    return CostEstimate(
        hours, cfg.costs.currency, rows, sum(r.su for r in rows), sum(r.cost for r in rows), su_h, cost_h
    )
