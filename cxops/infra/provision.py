"""plan / apply / output / destroy of the cluster module: render the variables, preflight, then Terraform.

Every change goes through a saved plan (`plan -out`, then `apply` of exactly that file). `-detailed-exitcode` tells
whether anything would change. Destroy keeps `module.storage` (the persistent data volume, which is also
`prevent_destroy`): it targets every other top-level module and resource of the state instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxops.errors import CxopsError
from cxops.infra import operator as operator_tfvars
from cxops.infra import tfvars
from cxops.infra.operator import Operator
from cxops.infra.terraform import Terraform

if TYPE_CHECKING:
    from cxops.config.schema import Config

PLAN_FILE = "cxops.tfplan"
PROVIDER_SOURCE = "terraform-provider-openstack/openstack"
KEEP = ("module.storage",)  # never destroyed by `cxops infra destroy`: the data volume
Events = Callable[[dict[str, Any]], None]


def uses_openstack(workdir: Path) -> bool:
    """Whether the module requires the OpenStack provider (tf/ does; a module without it needs no clouds.yaml)."""
    return any(PROVIDER_SOURCE in f.read_text() for f in workdir.glob("*.tf"))


def terraform(cfg: Config, workdir: Path, command: str) -> Terraform:
    """The runner for `workdir`; when the module uses the OpenStack provider, it gets the clouds.yaml openstacksdk
    resolved (cxops.cloud.clouds_file), or a CxopsError says where none was found, before Terraform starts.

    `command` is the cxops command that resumes after an interruption (named in the message)."""
    from cxops.cloud.clouds_file import provider_env

    env = provider_env(cfg.cloud.name) if uses_openstack(workdir) else {}
    return Terraform(workdir, resume=f"run `{command}` again", env=env)


def module_dir(root: Path, chdir: str | None = None) -> Path:
    """The Terraform module: `chdir` (relative to the current directory) or tf/ beside cxops.yaml."""
    path = Path(chdir).resolve() if chdir else root / tfvars.TF_DIR
    if not path.is_dir() or not any(path.glob("*.tf")):
        raise CxopsError(f"no Terraform module in {path} (expected *.tf files; --chdir names another module)")
    return path


@dataclass
class PlanReport:
    """What a plan would do: counts from `change_summary`, the resource changes, drift detected outside Terraform."""

    pending: bool
    add: int = 0
    change: int = 0
    remove: int = 0
    changes: list[dict[str, str]] = field(default_factory=list)
    drift: list[dict[str, str]] = field(default_factory=list)
    plan_file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "add": self.add,
            "change": self.change,
            "destroy": self.remove,
            "changes": self.changes,
            "drift": self.drift,
            "plan_file": self.plan_file,
        }

    def line(self) -> str:
        if not self.pending:
            return "no changes: the infrastructure matches the configuration"
        drift = f"; {len(self.drift)} changed outside Terraform" if self.drift else ""
        return f"{self.add} to add, {self.change} to change, {self.remove} to destroy{drift}"


def _report(events: list[dict[str, Any]], pending: bool, plan_file: Path) -> PlanReport:
    rep = PlanReport(pending=pending, plan_file=str(plan_file))
    for e in events:
        kind = e.get("type")
        if kind == "change_summary":
            c = e.get("changes", {})
            rep.add, rep.change, rep.remove = c.get("add", 0), c.get("change", 0), c.get("remove", 0)
        elif kind == "planned_change":
            ch = e.get("change", {})
            rep.changes.append({"address": ch.get("resource", {}).get("addr", "?"), "action": ch.get("action", "?")})
        elif kind == "resource_drift":
            ch = e.get("change", {})
            rep.drift.append({"address": ch.get("resource", {}).get("addr", "?"), "action": ch.get("action", "?")})
    return rep


def prepare(
    cfg: Config,
    workdir: Path,
    *,
    preflight: Callable[[], None] | None,
    command: str,
    operator: Callable[[], Operator] | None = None,
) -> Terraform:
    """Render the variables, run the preflight (when given), resolve the operator's address (when asked:
    cxops.infra.operator; after the preflight, so a missing cloud is reported as that), then `terraform init`;
    returns the runner.

    `command` is the cxops command that resumes after an interruption (named in the message)."""
    tfvars.write(cfg, workdir)
    tf = terraform(cfg, workdir, command)  # no clouds.yaml for the provider: stop before anything runs
    if preflight is not None:
        preflight()
        tfvars.write(cfg, workdir)  # the preflight may have created the lease: its reservation now boots the nodes
    if operator is not None:
        operator_tfvars.write(workdir, operator())
    tf.init()
    return tf


def plan(tf: Terraform, on_event: Events | None = None) -> PlanReport:
    """Plan into tf/cxops.tfplan; the report says whether anything would change."""
    plan_file = tf.workdir / PLAN_FILE
    result, pending = tf.plan(plan_file, on_event=on_event)
    return _report(result.events, pending, plan_file)


def apply(tf: Terraform, on_event: Events | None = None) -> tuple[PlanReport, dict[str, Any]]:
    """Plan, apply exactly that plan when it changes anything (then refresh the state), and return (plan report,
    outputs)."""
    report = plan(tf, on_event)
    if report.pending:
        tf.apply(Path(report.plan_file), on_event)
        # The OpenStack provider reads back attributes it did not set at creation (an empty tags list, the floating
        # IP's port once associated): recorded now, the next plan shows no "changed outside Terraform" for them.
        tf.refresh()
    Path(report.plan_file).unlink(missing_ok=True)
    return report, tf.output()


def destroy_targets(addresses: list[str], keep: tuple[str, ...] = KEEP) -> tuple[list[str], list[str]]:
    """(targets, kept) for a destroy that spares `keep`: top-level modules/resources of the state addresses.

    Targets are empty when nothing is kept (a plain destroy of everything)."""
    roots: list[str] = []
    for addr in addresses:
        parts = addr.split(".")
        if parts[0] == "module":
            root = f"module.{parts[1].split('[')[0]}"
        elif parts[0] == "data":
            continue  # data sources hold nothing to destroy
        else:
            root = f"{parts[0]}.{parts[1].split('[')[0]}"
        if root not in roots:
            roots.append(root)
    kept = [r for r in roots if r in keep]
    if not kept:
        return [], []
    return [r for r in roots if r not in keep], kept


@dataclass
class DestroyReport:
    """What destroy did: resources removed, top-level addresses kept (with their resources still in state)."""

    destroyed: int
    kept: list[str]
    remaining: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"destroyed": self.destroyed, "kept": self.kept, "remaining": self.remaining}


def destroy(tf: Terraform, on_event: Events | None = None, keep: tuple[str, ...] = KEEP) -> DestroyReport:
    """Destroy everything but `keep` through a saved destroy plan; nothing in state = nothing to do."""
    addresses = tf.state_list()
    if not addresses:
        return DestroyReport(0, [], [])
    targets, kept = destroy_targets(addresses, keep)
    if kept and not targets:
        return DestroyReport(0, kept, addresses)
    plan_file = tf.workdir / PLAN_FILE
    result, pending = tf.plan(plan_file, destroy=True, targets=targets, on_event=on_event)
    report = _report(result.events, pending, plan_file)
    if pending:
        tf.apply(plan_file, on_event)
    plan_file.unlink(missing_ok=True)
    return DestroyReport(report.remove, kept, tf.state_list())
