"""cxops.yaml → tf/cxops.auto.tfvars.json: the Terraform variables of the cluster, nothing secret.

Terraform loads `*.auto.tfvars.json` by itself, so a plain `terraform -chdir=tf plan` needs no flags. JSON has no
comments; the generated marker lives under the key "//", which Terraform's JSON syntax treats as a comment (checked
in the tests: no undeclared-variable warning). The keys are exactly the root module's variables (tested both ways).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxops import generated

if TYPE_CHECKING:
    from cxops.config.schema import Config

TF_DIR = "tf"
TFVARS_FILE = "cxops.auto.tfvars.json"
COMMAND = "cxops infra render"
COMMENT_KEY = "//"


def entry_node(cfg: Config) -> str:
    """The first control node in cxops.yaml order: floating IP, SSH bastion, data volume."""
    return next(n.name for n in cfg.cloud.nodes if n.role == "control")


def variables(cfg: Config, reservation_id: str | None = None) -> dict[str, Any]:
    """The root module's variables, from the `project` and `cloud` sections (no credentials: clouds.yaml has them).

    `reservation_id`: the lease cxops created (cxops.infra.leases.recorded); else cloud.lease.reservation_id."""
    c = cfg.cloud
    return {
        "project_name": cfg.project.name,
        "project_suffix": cfg.project.suffix,
        "cloud": c.name,
        "region": c.region,
        "image": c.image,
        "flavors": {"control": c.flavors.control, "worker": c.flavors.worker, "gpu": c.flavors.gpu},
        "key_pair": c.key_pair,
        "ssh_user": c.ssh_user,
        "external_network": c.external_network,
        "network_cidr": c.network_cidr,
        "dns_nameservers": list(c.dns_nameservers),
        "nodes": {n.name: {"address": n.address, "role": n.role} for n in c.nodes},
        "entry_node": entry_node(cfg),
        "reservation_id": c.lease.reservation_id or reservation_id,
        "floating_ip": c.floating_ip,
        "data_volume_gb": c.data_volume_gb,
        "data_volume_name": c.data_volume_name,
        "ssh_allowed_cidrs": list(c.ssh_allowed_cidrs),
        "api_allowed_cidrs": list(c.api_allowed_cidrs),
        "http_allowed_cidrs": list(c.http_allowed_cidrs),
        # the public entry's load balancer sends 80/443 to these on every node (k8s/platform/gateway-config)
        "gateway_node_ports": {
            "http": cfg.kubernetes.gateway_node_port,
            "https": cfg.kubernetes.gateway_tls_node_port,
        },
    }


def render_text(cfg: Config, reservation_id: str | None = None) -> str:
    """The file's text: the marker on the first line (so `generated.is_generated` sees it), then the variables."""
    marker = " ".join(line.lstrip("# ").strip() for line in generated.header(COMMAND).splitlines())
    body = json.dumps({COMMENT_KEY: marker, **variables(cfg, reservation_id)}, indent=2)
    first, second, rest = body.split("\n", 2)
    return f"{first}{second.strip()}\n{rest}\n"


def files(cfg: Config, workdir: Path) -> dict[Path, str]:
    """{path: text} of what `cxops infra render` writes into the module directory `workdir`."""
    from cxops.infra import leases

    return {workdir / TFVARS_FILE: render_text(cfg, leases.effective_reservation(cfg, workdir))}


def write(cfg: Config, workdir: Path) -> list[Path]:
    """Write the tfvars file (atomically); returns the paths that changed."""
    return generated.write_all(files(cfg, workdir))


def check(cfg: Config, workdir: Path) -> None:
    """Raise CxopsError with a diff when the tfvars file differs from cxops.yaml's rendering."""
    generated.check(files(cfg, workdir), COMMAND)
