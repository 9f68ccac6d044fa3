"""The typed model of cxops.yaml. Unknown keys are errors everywhere (extra="forbid")."""

from __future__ import annotations

import datetime
import ipaddress
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from cxops.config.addressing import check_address, check_nodes  # shared with the detection and tf/variables.tf
from cxops.config.placeholders import check_template
from cxops.environments import ENV_NAMES
from cxops.serving.batch_settings import BatchSettings
from cxops.serving.buckets import LATENCY_BUCKETS, LIMIT_MARGIN
from cxops.serving.limits import MAX_BATCH_VAR, RequestLimits, direct_path_env

Fraction = Annotated[float, Field(ge=0, le=1)]
Port = Annotated[int, Field(ge=1024, le=65535)]
Positive = Annotated[float, Field(gt=0)]

# MLflow accepts most names, but '/', ':' and '@' break `models:/Name@alias` URIs and Kubernetes labels; be strict.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Project(Strict):
    """Who owns the resources: names every cloud resource, image and namespace prefix."""

    name: str = Field(description="project name, a DNS label (used in resource and image names)")
    suffix: str = Field(description="appended to every cloud resource name so several users share a project")

    @field_validator("name", "suffix")
    @classmethod
    def _dns_label(cls, v: str) -> str:
        if not DNS_LABEL.match(v):
            raise ValueError(f"must be a DNS label (lowercase letters, digits, '-', at most 32), got {v!r}")
        return v


class Node(Strict):
    """One machine of the cluster."""

    name: str = Field(description="hostname and Terraform key of the node, a DNS label")
    address: str = Field(description="fixed IP on the private network")
    role: Literal["control", "worker", "gpu"] = Field(
        "worker", description="control (Kubernetes control plane + etcd), worker, or gpu (a worker on the gpu flavor)"
    )

    @field_validator("name")
    @classmethod
    def _hostname(cls, v: str) -> str:
        if not DNS_LABEL.match(v):
            raise ValueError(f"must be a DNS label (lowercase letters, digits, '-', at most 32), got {v!r}")
        return v

    @field_validator("address")
    @classmethod
    def _ip(cls, v: str) -> str:
        ipaddress.ip_address(v)
        return v


class Flavors(Strict):
    """Nova flavors per node role."""

    control: str = Field("m1.medium", description="flavor of control nodes")
    worker: str = Field("m1.medium", description="flavor of worker nodes")
    gpu: str | None = Field(None, description="flavor of gpu nodes (required when a node has role gpu)")


def ipv4_network(v: str, example: str = "192.168.1.0/24") -> ipaddress.IPv4Network:
    """`v` as an IPv4 network, only when written canonically as Terraform's cidrhost/cidrsubnet and Neutron read
    it: ADDRESS/PREFIX with no host bits set, nothing else (no bare address, no leading zeros, no spaces). ValueError
    naming the value and the canonical form otherwise."""
    if "/" not in v:
        raise ValueError(f"{v!r} is an address, not a network in CIDR form such as {example}")
    try:
        net = ipaddress.ip_network(v, strict=False)
    except ValueError as exc:
        raise ValueError(f"{v!r} is not a network in CIDR form such as {example} ({exc})") from None
    if net.version != 4:
        raise ValueError(f"{v!r} is not an IPv4 network")
    if str(net) != v:
        raise ValueError(f"{v!r} is not a canonical network address (host bits set or not in normal form); write {net}")
    return net


def _cidrs(values: list[str], world: bool = True) -> list[str]:
    """Each entry an IPv4 network in canonical CIDR form, no host bits set (Neutron stores the network, so a host
    address would show as drift; the security group rules are IPv4). `world=False` also refuses 0.0.0.0/0 (only
    the gateway's 80/443 may be open to everyone, docs/security.md)."""
    for v in values:
        net = ipv4_network(v, "203.0.113.0/24")
        if not world and net.prefixlen == 0:
            raise ValueError(f"{v!r} opens the port to the whole internet; name your networks (e.g. 203.0.113.0/24)")
    return values


PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?==[A-Za-z0-9][A-Za-z0-9.+!_-]*$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


LEASE_DATE = "%Y-%m-%d %H:%M"  # Blazar's v1 lease date format (UTC), openstack/blazar manager/service.py


def _lease_date(v: str | None, now_ok: bool) -> str | None:
    if v is None or (now_ok and v == "now"):
        return v
    try:
        datetime.datetime.strptime(v, LEASE_DATE)
    except ValueError:
        said = '"now" or ' if now_ok else ""
        raise ValueError(f"must be {said}a UTC time YYYY-MM-DD HH:MM like 2026-12-07 09:00, got {v!r}") from None
    return v


class LeaseRequest(Strict):
    """A lease cxops creates through Blazar's v1 API (an instance reservation) at `cxops infra apply`."""

    instances: int | None = Field(
        None, ge=1, le=1000, description="instances to reserve; unset = one per node in cloud.nodes"
    )
    flavor: str | None = Field(
        None,
        description="the flavor whose size (VCPUs, RAM, disk) is reserved; unset = the one flavor cloud.flavors "
        "names for every role (a reservation holds one size)",
    )
    start: str = Field("now", description='"now" or a UTC time YYYY-MM-DD HH:MM when the lease starts')
    end: str | None = Field(None, description="UTC time YYYY-MM-DD HH:MM when the lease ends; unset = start + hours")
    hours: int = Field(24, ge=1, le=4380, description="the lease's length when end is unset (KVM@TACC: <= 6 months)")
    affinity: bool | None = Field(
        None, description="true = all instances on one host, false = each on its own host, unset = no preference"
    )

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        return _lease_date(v, now_ok=True) or v

    @field_validator("end")
    @classmethod
    def _end(cls, v: str | None) -> str | None:
        return _lease_date(v, now_ok=False)

    @model_validator(mode="after")
    def _ordered(self) -> LeaseRequest:
        if self.end is not None and self.start != "now" and self.end <= self.start:
            raise ValueError(f"end {self.end!r} must be later than start {self.start!r}")
        return self


class Lease(Strict):
    """Which Chameleon reservation the nodes boot in: an existing one, or one cxops creates (never both)."""

    reservation_id: str | None = Field(
        None,
        description="use this existing reservation (the reservation's id, not the lease's): every node boots with "
        "its flavor reservation:<id>",
    )
    create: LeaseRequest | None = Field(
        None, description="create the lease at `cxops infra apply` and end it at `cxops infra destroy`"
    )

    @field_validator("reservation_id")
    @classmethod
    def _uuid(cls, v: str | None) -> str | None:
        if v is not None and not UUID.match(v):
            raise ValueError(f"must be a reservation UUID like 0b0c3ee5-51a7-4d83-9d4d-2a7b0c3f1e52, got {v!r}")
        return v

    @model_validator(mode="after")
    def _one(self) -> Lease:
        if self.reservation_id is not None and self.create is not None:
            raise ValueError(
                "set either reservation_id (an existing reservation) or create (cxops makes one), not both"
            )
        return self


class Cloud(Strict):
    """The OpenStack project the cluster is provisioned in (Terraform reads it via `cxops infra render`)."""

    name: str = Field(description="the entry in clouds.yaml (or OS_CLOUD) to use")
    region: str | None = Field(None, description="region of the cloud entry; unset = the entry's default")
    image: str = Field(description="image name every node boots (e.g. CC-Ubuntu24.04 on Chameleon)")
    flavors: Flavors = Field(Flavors(), description="flavor per node role")
    key_pair: str = Field(description="name of the Nova key pair whose public key is installed on every node")
    external_network: str = Field(
        "public", description="the provider network floating IPs and the router's gateway come from"
    )
    network_cidr: str = Field("192.168.1.0/24", description="CIDR of the private network the nodes share")
    dns_nameservers: list[str] = Field(
        ["8.8.8.8", "1.1.1.1"],
        max_length=5,
        description="DNS resolvers the private subnet hands to the nodes (apt, image pulls, CoreDNS upstreams); "
        "Chameleon asks for them on subnets users create; use the site's own where it offers some; [] = Neutron's",
    )
    nodes: list[Node] = Field(description="the cluster's machines, each with a fixed address inside network_cidr")
    data_volume_gb: int = Field(
        10, ge=1, le=10000, description="size (GiB) of the persistent data volume on the first control node"
    )
    lease: Lease = Field(
        Lease(),
        description="the Chameleon (Blazar) lease the nodes boot in: an existing reservation (reservation_id) or one "
        "cxops creates at apply and ends at destroy (create); required on a cloud with a reservation service",
    )
    ssh_user: str = Field("cc", description="login user of the image (Chameleon's images: cc); Ansible's user")
    ssh_identity_file: str | None = Field(
        None, description="private key matching key_pair, for the generated ssh config; unset = ~/.ssh/<key_pair>"
    )
    ssh_allowed_cidrs: list[str] = Field(
        [],
        description="networks besides operator_address that may SSH to the bastion (key-only logins); never 0.0.0.0/0",
    )
    api_allowed_cidrs: list[str] = Field(
        [],
        description="networks besides operator_address that may reach the Kubernetes API (6443); never 0.0.0.0/0",
    )
    operator_address: str | None = Field(
        None,
        description="your own public IPv4 address: SSH and the Kubernetes API are open to it (/32); unset = "
        "`cxops infra` takes it from --operator-address or CXOPS_OPERATOR_ADDRESS, else the source address of the "
        "route to the cloud's endpoint, else asks",
    )
    http_allowed_cidrs: list[str] = Field(
        ["0.0.0.0/0"], description="who may reach the platform's HTTP(S) entry (80, 443) on the floating IP"
    )
    floating_ip: str | None = Field(
        None, description="an existing floating IP address to put on the first control node; unset = allocate one"
    )
    data_volume_name: str | None = Field(
        None, description="adopt this existing Cinder volume as the data volume; unset = create (and protect) one"
    )

    @field_validator("network_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        net = ipv4_network(v)
        if not 16 <= net.prefixlen <= 28:
            raise ValueError(f"must be an IPv4 network from /16 to /28, got {v!r}")
        return v

    @field_validator("dns_nameservers")
    @classmethod
    def _resolvers(cls, v: list[str]) -> list[str]:
        for address in v:
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise ValueError(f"must hold IPv4 addresses like 8.8.8.8, got {address!r}") from None
        if len(set(v)) != len(v):
            raise ValueError(f"lists a resolver twice: {v}")
        return v

    @field_validator("ssh_user")
    @classmethod
    def _user(cls, v: str) -> str:
        if not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", v):
            raise ValueError(f"must be a Linux user name (lowercase, digits, '_', '-'), got {v!r}")
        return v

    @field_validator("ssh_allowed_cidrs", "api_allowed_cidrs")
    @classmethod
    def _admin_cidrs(cls, v: list[str]) -> list[str]:
        return _cidrs(v, world=False)

    @field_validator("http_allowed_cidrs")
    @classmethod
    def _allowed(cls, v: list[str]) -> list[str]:
        return _cidrs(v)

    @field_validator("operator_address")
    @classmethod
    def _operator(cls, v: str | None) -> str | None:
        if v is not None:
            check_address(v)
        return v

    @field_validator("floating_ip")
    @classmethod
    def _fip(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.ip_address(v)
        return v

    @model_validator(mode="after")
    def _nodes_fit(self) -> Cloud:
        check_nodes(self)
        want = self.lease.create
        if want is not None:
            if want.instances is not None and want.instances < len(self.nodes):
                raise ValueError(
                    f"lease.create.instances {want.instances} is fewer than the {len(self.nodes)} nodes in "
                    f"cloud.nodes; reserve at least {len(self.nodes)} or leave it unset"
                )
            roles = {n.role for n in self.nodes}
            named = {r: getattr(self.flavors, r) for r in sorted(roles)}
            if want.flavor is None and len(set(named.values())) > 1:
                said = ", ".join(f"{r}: {f}" for r, f in named.items())
                raise ValueError(
                    f"lease.create.flavor is unset and cloud.flavors differ by role ({said}); a reservation holds "
                    "one size: set lease.create.flavor, or one flavor for every role"
                )
        return self


class Dataset(Strict):
    """The dataset and its fixed train/test split."""

    name: str = Field(
        "digits",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="which dataset the model project loads (each project names the ones it knows, e.g. digits, wine)",
    )
    test_size: float = Field(
        0.25, gt=0, lt=1, description="share of the data held out for evaluation and canary replay"
    )
    seed: int = Field(42, description="random seed of the split (same split for every version, so metrics compare)")


class ModelSpec(Strict):
    """The model: its registry name and the project code that trains and evaluates it."""

    name: str = Field(description="registered model name in MLflow")
    project: str = Field(
        "cxops.model.digits:DigitsProject", description="module:Class implementing cxops.model.interface"
    )
    experiment: str = Field("cxops", description="MLflow experiment the training runs are logged to")
    dataset: Dataset = Field(Dataset(), description="the data the model project trains and is evaluated on")
    params: dict[str, float | int | str | bool] = Field(
        {}, description="hyper-parameters passed to the model project's train (logged as run params)"
    )
    requirements: list[str] = Field(
        [],
        description="the model project's own Python requirements beyond cxops', exact pins (e.g. torch==2.13.0 for "
        "cxops.model.examples.torch_cnn); build-initial installs them into the project's tools image",
    )

    @field_validator("requirements")
    @classmethod
    def _pins(cls, v: list[str]) -> list[str]:
        for req in v:
            if not PIN.match(req):
                raise ValueError(f"must be exact pins like torch==2.13.0 (no ranges, URLs or options), got {req!r}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not MODEL_NAME.match(v):
            raise ValueError(
                f"must start with a letter or digit and hold only letters, digits, '.', '_', '-' (max 63), got {v!r}"
            )
        return v

    @field_validator("project")
    @classmethod
    def _entry(cls, v: str) -> str:
        if not re.match(r"^[\w.]+:\w+$", v):
            raise ValueError(f"must look like 'package.module:ClassName', got {v!r}")
        return v


class Training(Strict):
    """Where and how long training runs."""

    runner: Literal["local", "openstack-instance"] = Field(
        "local", description="local (this process) or openstack-instance (an ephemeral server, e.g. with a GPU)"
    )
    flavor: str = Field("m1.medium", description="flavor whose hourly rate prices the run (and runs it remotely)")
    timeout_seconds: int = Field(1800, ge=10, description="bound on one training run, seconds")
    instance_command: list[str] = Field(
        ["cxops", "step", "train"],
        description="what the ephemeral instance runs (runner openstack-instance); its image must provide it",
    )


class EvaluationGate(Strict):
    """Held-out metrics a run must reach to be registered."""

    min_accuracy: Fraction = Field(0.9, description="lowest held-out accuracy that passes")
    min_macro_f1: Fraction = Field(0.9, description="lowest held-out macro F1 that passes")
    max_regression: Fraction = Field(0.01, description="allowed drop in accuracy vs the production model")


class StagingGate(Strict):
    """Integration and load test of staging."""

    requests: int = Field(400, ge=1, le=1_000_000, description="requests the staging load test sends")
    concurrency: int = Field(8, ge=1, le=1024, description="concurrent clients of the staging load test")
    max_p95_ms: Positive = Field(200, description="highest p95 latency (ms) that passes")
    max_error_rate: Fraction = Field(0.01, description="highest share of failed requests that passes")
    golden_samples: int = Field(
        20, ge=1, description="rows whose predictions must equal the build's golden predictions"
    )


class CanaryGate(Strict):
    """Canary vs production on live (replayed) traffic over a window."""

    window_seconds: Positive = Field(10, description="length of the canary analysis window, seconds")
    requests: int = Field(600, ge=10, description="held-out requests replayed through the split during the window")
    concurrency: int = Field(8, ge=1, le=1024, description="concurrent clients of the replay")
    max_error_rate: Fraction = Field(0.02, description="highest canary error rate that passes")
    max_p95_ratio: Positive = Field(2.0, description="canary p95 / production p95")
    p95_floor_ms: Annotated[float, Field(ge=0)] = Field(
        5.0,
        description="a p95 below this (ms) counts as this in the p95 ratio: between sub-millisecond latencies a "
        "ratio is noise (0.7 vs 0.09 ms read as 7.8x), not a regression; 0 compares them as they are",
    )
    max_distribution_distance: Fraction = Field(0.15, description="total variation distance of predicted classes")
    min_confidence_ratio: Positive = Field(0.95, description="canary mean confidence / production mean confidence")
    min_agreement: Fraction = Field(0.9, description="share of mirrored requests where both predict the same")
    prometheus_url: str | None = Field(
        None, description="read window metrics from this Prometheus (else $PROMETHEUS_URL, else scrape /metrics)"
    )
    prometheus_selector: str = Field(
        'namespace="{namespace}"',
        description="PromQL label matchers selecting one env's servers; {namespace} (the env's namespace) and {env} "
        "are filled in",
    )
    prometheus_scrape_seconds: Positive = Field(15, description="scrape interval: the last samples lag this much")
    min_samples: int = Field(
        50,
        ge=1,
        description="requests each side's metrics must show in the window before any verdict; fewer makes the "
        "gate inconclusive (exit 4, never promoted): e.g. a selector that matches nothing",
    )

    @field_validator("prometheus_selector")
    @classmethod
    def _selector(cls, v: str) -> str:
        return check_template(v, ("env", "namespace"), ("env", "namespace"))

    @model_validator(mode="after")
    def _enough_requests(self) -> CanaryGate:
        if self.min_samples > self.requests:
            raise ValueError(
                f"min_samples {self.min_samples} exceeds requests {self.requests}: every analysis would be inconclusive"
            )
        return self


class Gates(Strict):
    """The evidence each promotion needs."""

    evaluation: EvaluationGate = EvaluationGate()
    staging: StagingGate = StagingGate()
    canary: CanaryGate = CanaryGate()

    @model_validator(mode="after")
    def _latency_limits_measurable(self) -> Gates:
        """The gates' absolute latency limit lies well below the server latency histogram's top finite bucket
        (LIMIT_MARGIN times): past that bucket a p95 is known only as a bound (> top), and no gate passes on a
        bound. (The canary's limit is a ratio to production's p95, not a latency: a p95 in the +Inf bucket makes
        that check a bound at run time, docs/operations.md.)"""
        top_ms = max(LATENCY_BUCKETS) * 1000
        most_ms = top_ms / LIMIT_MARGIN
        if self.staging.max_p95_ms > most_ms:
            raise ValueError(
                f"gates.staging.max_p95_ms {self.staging.max_p95_ms:g} ms is not well below the serving latency "
                f"histogram's top bucket ({top_ms / 1000:g} s): at most {most_ms:g} ms (1/{LIMIT_MARGIN} of it), or a "
                "p95 near the limit is known only as a bound"
            )
        return self


class Batching(Strict):
    """Adaptive batching of a pyfunc model's calls (cxops.serving.batching; the linear fast path is never
    batched). Defaults measured with `make bench` (docs/performance.md, "Adaptive batching")."""

    enabled: bool = Field(True, description="score requests that arrive together in one model call")
    max_batch_size: int = Field(
        BatchSettings().max_batch_size, ge=1, le=100_000, description="most rows one batched model call scores"
    )
    max_wait_ms: float = Field(
        BatchSettings().max_wait_ms,
        ge=0,
        le=1000,
        description="most milliseconds a batch's first request waits for others (only while the batch holds "
        "fewer requests than the one before it)",
    )

    def settings(self) -> BatchSettings:
        """What the model server takes (cxops.serving.batch_settings)."""
        return BatchSettings(self.enabled, self.max_batch_size, self.max_wait_ms)


class Environment(Strict):
    """One environment's serving settings."""

    port: Port = Field(description="the lab's port for this environment's model server (127.0.0.1)")
    replicas: int = Field(1, ge=1, le=64, description="pods in the cluster (the lab runs one process per env)")
    weight: int = Field(0, ge=0, le=100, description="share of traffic (percent); canary only")
    url: str | None = Field(None, description="where the env is reached; unset = http://127.0.0.1:<port> (lab)")
    batching: Batching | None = Field(
        None, description="this environment's adaptive batching; unset = serving.batching"
    )


class Environments(Strict):
    """staging, canary and production."""

    staging: Environment
    canary: Environment
    production: Environment

    @model_validator(mode="after")
    def _ports_distinct(self) -> Environments:
        ports = [self.staging.port, self.canary.port, self.production.port]
        if len(set(ports)) != 3:
            raise ValueError(f"staging, canary and production need distinct ports, got {ports}")
        if not 0 < self.canary.weight < 100:
            raise ValueError(f"canary.weight must be between 1 and 99 percent, got {self.canary.weight}")
        return self

    def get(self, env: str) -> Environment:
        if env not in ENV_NAMES:
            raise KeyError(env)
        return getattr(self, env)


class Serving(Strict):
    """The model server and its image."""

    max_batch: int = Field(
        1024, ge=1, le=100_000, description="most rows one request may carry (larger bodies are refused)"
    )
    request_head_timeout_seconds: Positive = Field(
        10,
        le=300,
        description="a request's head (request line and headers) must arrive whole within this many seconds of "
        "the connection opening or of its first byte; else 408 and the connection closes",
    )
    request_body_timeout_seconds: Positive = Field(
        30,
        le=3600,
        description="a request's body must arrive whole within this many seconds of its head; else 408 and the "
        "connection closes",
    )
    max_request_head_bytes: int = Field(
        16384,
        ge=1024,
        le=1_048_576,
        description="most bytes of request target and header lines one request may send (larger: 431, or 414 for "
        "the target alone)",
    )
    max_request_headers: int = Field(
        100, ge=8, le=10_000, description="most header lines one request may send (more: 431)"
    )
    direct_path: bool = Field(
        True,
        description="answer scoring requests with a Content-Length in the HTTP protocol itself, without an ASGI "
        "cycle (faster; used only on the uvicorn versions it was verified on); false: every request through uvicorn's "
        "ASGI cycle",
    )
    batching: Batching = Field(
        default_factory=Batching, description="adaptive batching of pyfunc models (per environment: its batching)"
    )
    image_registry: str = Field("registry.cxops.local/cxops", description="where built serving images are pushed")
    base_image: str = Field(
        "python:3.11.11-slim-bookworm", description="base image of the serving image, pinned by tag"
    )

    def request_limits(self) -> RequestLimits:
        """The model server's limits on a request's head and body (cxops.serving.limited)."""
        return RequestLimits(
            self.request_head_timeout_seconds,
            self.request_body_timeout_seconds,
            self.max_request_head_bytes,
            self.max_request_headers,
        )

    def server_env(self, batching: Batching | None = None) -> dict[str, str]:
        """What a model server in the cluster reads from its environment (the overlay's model.env): the request
        limits, max_batch and direct_path, as `python -m cxops.serving` takes them (cxops.serving.limits), and the
        adaptive batching (`batching`, the environment's own, else serving.batching)."""
        return {
            **self.request_limits().env(),
            MAX_BATCH_VAR: str(self.max_batch),
            **direct_path_env(self.direct_path),
            **(batching or self.batching).settings().env(),
        }

    @field_validator("base_image")
    @classmethod
    def _pinned(cls, v: str) -> str:
        if ":" not in v.rsplit("/", 1)[-1] or v.endswith(":latest"):
            raise ValueError(f"must be pinned by a tag other than latest, got {v!r}")
        return v


class GitOps(Strict):
    """The GitOps repository that says what each environment runs."""

    remote: str | None = Field(None, description="git URL of the GitOps repo; unset = the lab's local bare repo")
    branch: str = Field("main", description="branch ArgoCD (or the lab controller) follows")
    overlays_dir: str = Field("k8s/serving/overlays", description="one kustomize overlay per environment under it")
    traffic_dir: str = Field("k8s/serving/traffic", description="the production/canary HTTPRoute and its grant")
    push_attempts: int = Field(
        5, ge=1, le=20, description="bounded attempts to push a commit when the remote moved meanwhile"
    )
    sync_timeout_seconds: Positive = Field(90, description="bound on waiting for an env to serve what git says")


class Lab(Strict):
    """The embedded services `cxops lab up` starts on this machine."""

    mlflow_port: Port = Field(5000, description="port of the lab's MLflow server (127.0.0.1)")
    state_dir: str = Field(".cxops", description="where the lab keeps state (relative to cxops.yaml), git-ignored")
    ready_timeout_seconds: Positive = Field(60, description="bound on waiting for a lab service to come up, seconds")
    endpoint_port: Port = Field(
        8188,
        description="the lab's one public endpoint (nginx on 127.0.0.1): splits production/canary like the "
        "cluster's Gateway, by the HTTPRoute weights in git",
    )
    artifact_store: Literal["local", "swift"] = Field(
        "local",
        description="where the lab's MLflow keeps artifacts: local = files under state_dir; swift = the cloud's "
        "object store through its S3 API (bucket platform.artifacts_bucket, created if absent), with the "
        "credentials `cxops cloud s3-credentials` stored",
    )


class Workflows(Strict):
    """The Argo WorkflowTemplates rendered for the cluster and how their pods reach the platform."""

    namespace: str = Field("argo", description="namespace of the WorkflowTemplates and the workflows they run")
    tools_image: str | None = Field(
        None,
        description="image every step container runs (cxops and the model project's requirements installed), pinned "
        "by tag, in a registry you can push to; unset = <serving.image_registry>/cxops-tools-<model project>:<cxops "
        "version> in the platform registry",
    )
    gitops_remote: str | None = Field(
        None,
        description="git URL (SSH) of the GitOps repository the steps in the cluster push to and ArgoCD follows; "
        "unset = gitops.remote; `cxops workflows render` and `cxops k8s render` refuse to render without one (the "
        "lab's local bare repo is no pod's)",
    )
    gitops_credentials_file: str | None = Field(
        None,
        description="file on this machine (relative to cxops.yaml) with the credential ArgoCD reads the GitOps "
        "repository with; the cluster install puts it in ArgoCD's repository Secret: for an SSH URL the deploy "
        "key's private key (OpenSSH), for an HTTPS URL two lines username=<user> and password=<token>; unset = "
        "a public HTTPS repository (an SSH URL needs it)",
    )
    argo_server: str | None = Field(None, description="Argo Server URL; unset = no cluster configured")
    # In-cluster wiring of the rendered templates; defaults match the platform apps in k8s/.
    service_account: str = Field("cxops-workflow", description="ServiceAccount the workflow pods run as")
    builder_image: str = Field("moby/buildkit:v0.23.2-rootless", description="rootless BuildKit, pinned")
    repo_url: str = Field("https://github.com/cxops/cxops.git", description="source of the tools image")
    repo_revision: str = Field("main", description="git revision the tools image is built from")
    mlflow_tracking_uri: str | None = Field(None, description="MLflow for workflow pods; unset = the platform's")
    s3_endpoint_url: str | None = Field(None, description="S3 API for artifacts; unset = the platform's store")
    prometheus_url: str | None = Field(None, description="Prometheus for the canary gate; unset = the platform's")
    argocd_server: str | None = Field(None, description="ArgoCD API for workflow pods; unset = the in-cluster one")
    argocd_app: str = Field("{project}-{env}", description="ArgoCD Application name; {project} and {env} filled in")
    sync_timeout_seconds: int = Field(
        600,
        ge=180,  # cxops.workflows.argocd_wait.RECONCILE_SECONDS: ArgoCD polls git that often should a refresh be lost
        le=7200,
        description="bound (s) on a step's wait for ArgoCD to report a pushed commit Synced+Healthy and the env to "
        "serve it (the deploy step asks ArgoCD to refresh; at least ArgoCD's own poll period, 180 s)",
    )
    s3_secret: str = Field("cxops-s3-credentials", description="keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY")
    git_deploy_key_secret: str = Field("cxops-gitops-deploy-key", description="keys ssh-privatekey, known_hosts")
    registry_auth_secret: str = Field("cxops-registry-auth", description="type dockerconfigjson, for image pushes")
    argocd_token_secret: str = Field("cxops-argocd-token", description="key token: a project-scoped ArgoCD token")
    retrain_schedules: list[str] = Field(["0 3 * * *"], min_length=1, description="cron lines for retraining")
    timezone: str = Field("UTC", description="time zone of retrain_schedules")
    schedules_enabled: bool = Field(
        False,
        description="false: the CronWorkflows (scheduled-retrain, scheduled-gitops-guard) are rendered suspended; "
        "set true once the deploy key, registry credentials and tools image exist (then render and push)",
    )
    scheduled_retrain_to_production: bool = Field(
        False,
        description="false: the scheduled retrain stops before promoting to production (a person promotes the "
        "canary); true: an unattended run may go all the way to production",
    )
    gitops_guard_schedule: str = Field(
        "*/2 * * * *",
        description="cron line of the gitops-guard CronWorkflow: verify pushes (revert a bad one) "
        "and move registry aliases to what git deploys",
    )

    @field_validator("argocd_app")
    @classmethod
    def _app_template(cls, v: str) -> str:
        return check_template(v, ("project", "env"), ("env",))

    @field_validator("tools_image", "builder_image")
    @classmethod
    def _pinned_image(cls, v: str | None) -> str | None:
        if v is not None and (":" not in v.rsplit("/", 1)[-1] or v.endswith(":latest")):
            raise ValueError(f"must be pinned by a tag other than latest, got {v!r}")
        return v


class Kubernetes(Strict):
    """Names of namespaces and the gateway in the cluster."""

    namespace_prefix: str = Field("cxops", description="environment namespaces are <prefix>-<env>")
    platform_namespace: str = Field("cxops-platform", description="MLflow, S3, Prometheus, gateway, registry")
    argocd_namespace: str = Field("argocd", description="where ArgoCD and its Applications live")
    gateway_name: str = Field("cxops-gateway", description="the Gateway API Gateway the HTTPRoutes attach to")
    gateway_node_port: int = Field(
        30080, ge=30000, le=32767, description="node port of the Gateway's HTTP listener on every node (no cloud LB)"
    )
    gateway_tls_node_port: int = Field(
        30443, ge=30000, le=32767, description="node port of the Gateway's HTTPS listener on every node"
    )
    domain: str | None = Field(
        None,
        description="public DNS name of the gateway (an A record to the floating IP): set = its certificate comes "
        "from ACME (acme_server) by an HTTP-01 challenge; unset = from the cluster's own self-signed CA",
    )
    acme_email: str | None = Field(None, description="contact address given to the ACME CA (required with domain)")
    acme_server: str = Field(
        "https://acme-v02.api.letsencrypt.org/directory",
        description="ACME directory URL (Let's Encrypt production; its staging directory for trials)",
    )
    public_rate_limit_rps: int = Field(
        50,
        ge=1,
        le=100000,
        description="requests per second the gateway lets through to the public model endpoints (per Envoy "
        "replica; more get HTTP 429)",
    )
    # Kubespray v2.31's defaults (inventory sample k8s-cluster.yml: kube_pods_subnet, kube_service_addresses)
    pod_cidr: str = Field(
        "10.233.64.0/18",
        description="the pods' network (Kubespray kube_pods_subnet, written into the inventory's group_vars); "
        "must not overlap cloud.network_cidr or service_cidr",
    )
    service_cidr: str = Field(
        "10.233.0.0/18",
        description="the Services' cluster IPs (Kubespray kube_service_addresses, written into the inventory's "
        "group_vars); must not overlap cloud.network_cidr or pod_cidr",
    )

    @field_validator("namespace_prefix", "platform_namespace", "argocd_namespace", "gateway_name")
    @classmethod
    def _label(cls, v: str) -> str:
        if not DNS_LABEL.match(v):
            raise ValueError(f"must be a DNS label (lowercase letters, digits, '-', at most 32), got {v!r}")
        return v

    @field_validator("pod_cidr", "service_cidr")
    @classmethod
    def _cluster_cidr(cls, v: str, info: ValidationInfo) -> str:
        # pods: room for several nodes' /24 blocks (Kubespray's kube_network_node_prefix 24); Services: the API
        # server takes at most 20 host bits for an IPv4 service range
        low, high = (8, 22) if info.field_name == "pod_cidr" else (12, 24)
        net = ipv4_network(v, "10.233.64.0/18")
        if not low <= net.prefixlen <= high:
            raise ValueError(f"{v!r} must be an IPv4 network from /{low} to /{high}")
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is not None and not DNS_NAME.match(v):
            raise ValueError(f"must be a DNS name such as ml.example.org (lowercase, at least one dot), got {v!r}")
        return v

    @model_validator(mode="after")
    def _acme(self) -> Kubernetes:
        if self.domain and not self.acme_email:
            raise ValueError("kubernetes.domain is set, so kubernetes.acme_email is required (the ACME account)")
        if self.gateway_tls_node_port == self.gateway_node_port:
            raise ValueError("gateway_tls_node_port must differ from gateway_node_port")
        return self


class Platform(Strict):
    """What `cxops k8s render` puts on the cluster besides the serving apps (docs/platform.md)."""

    object_store: Literal["seaweedfs", "external"] = Field(
        "seaweedfs",
        description="MLflow's artifact store: an in-cluster SeaweedFS, or the site's own S3 API (then set "
        "workflows.s3_endpoint_url, e.g. Chameleon's Swift s3api)",
    )
    artifacts_bucket: str = Field("mlflow", description="S3 bucket holding MLflow artifacts")
    storage_class: str | None = Field(
        "cxops-data",
        description="StorageClass of the platform's volumes; cxops-data (rendered with the platform) = local-path "
        "volumes on the node holding the Cinder data volume only; null = the cluster's default class",
    )
    postgres_storage_gb: int = Field(10, ge=1, le=10000, description="volume of MLflow's PostgreSQL")
    object_store_storage_gb: int = Field(50, ge=1, le=100000, description="volume of the in-cluster SeaweedFS")
    registry_storage_gb: int = Field(20, ge=1, le=100000, description="volume of the image registry")
    prometheus_retention: str = Field("15d", description="how long Prometheus keeps samples (Prometheus duration)")
    label_studio: bool = Field(False, description="install Label Studio (optional labelling UI)")

    @field_validator("artifacts_bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", v):
            raise ValueError(f"must be an S3 bucket name (3-63 lowercase letters, digits, '.', '-'), got {v!r}")
        return v

    @field_validator("prometheus_retention")
    @classmethod
    def _duration(cls, v: str) -> str:
        if not re.match(r"^[0-9]+(ms|s|m|h|d|w|y)$", v):
            raise ValueError(f"must be a Prometheus duration such as 15d or 12h, got {v!r}")
        return v


class Costs(Strict):
    """What compute costs: to price each training run, and the cluster before it exists (`cxops infra cost`)."""

    currency: str = Field("USD", description="currency of the rates (reported beside every cost)")
    rates_per_hour: dict[str, Annotated[float, Field(ge=0)]] = Field({}, description="hourly rate per flavor name")
    default_rate: Annotated[float, Field(ge=0)] = Field(0.0, description="hourly rate of a flavor not listed")
    su_per_hour: dict[str, Annotated[float, Field(ge=0)]] = Field(
        {},
        description="service units one node of each flavor draws from a Chameleon allocation per hour "
        "(KVM@TACC: VCPUs / 24; a base bare-metal node: 1)",
    )
    default_su_per_hour: Annotated[float, Field(ge=0)] | None = Field(
        None, description="SU per hour of a flavor not in su_per_hour; unset = such a flavor is an error"
    )
    lease_hours: Annotated[float, Field(gt=0, le=8784)] = Field(
        168, description="length (hours) of the lease `cxops infra cost` prices (Chameleon bare metal: at most 7 days)"
    )

    def rate(self, flavor: str) -> float:
        return self.rates_per_hour.get(flavor, self.default_rate)


class Config(Strict):
    """cxops.yaml: the one configuration."""

    project: Project
    cloud: Cloud
    model: ModelSpec
    training: Training = Training()
    gates: Gates = Gates()
    environments: Environments
    serving: Serving = Serving()
    gitops: GitOps = GitOps()
    lab: Lab = Lab()
    workflows: Workflows = Workflows()
    kubernetes: Kubernetes = Kubernetes()
    platform: Platform = Platform()
    costs: Costs = Costs()

    @property
    def embedded(self) -> bool:
        """True when the environments run in the embedded lab: no gitops.remote, so the lab's bare repository is
        the remote and its controller applies git (cxops.release.runtime)."""
        return self.gitops.remote is None

    def batching(self, env: str) -> Batching:
        """The adaptive batching of `env`'s model server: its own, else serving.batching (also for "local" and any
        name that is not an environment)."""
        own = self.environments.get(env).batching if env in ENV_NAMES else None
        return own or self.serving.batching

    @model_validator(mode="after")
    def _external_store_has_endpoint(self) -> Config:
        if self.platform.object_store == "external" and not self.workflows.s3_endpoint_url:
            raise ValueError("platform.object_store: external needs workflows.s3_endpoint_url (the site's S3 API URL)")
        return self

    @model_validator(mode="after")
    def _networks_disjoint(self) -> Config:
        """The nodes' network, the pods' and the Services' must not overlap: a node address inside the pod or
        service range is routed into the cluster instead of to the node."""
        nets = {
            "cloud.network_cidr": self.cloud.network_cidr,
            "kubernetes.pod_cidr": self.kubernetes.pod_cidr,
            "kubernetes.service_cidr": self.kubernetes.service_cidr,
        }
        keys = list(nets)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if ipaddress.ip_network(nets[a]).overlaps(ipaddress.ip_network(nets[b])):
                    raise ValueError(
                        f"{a} {nets[a]} overlaps {b} {nets[b]}; the node, pod and service networks must be disjoint"
                    )
        nodes, pods = len(self.cloud.nodes), ipaddress.ip_network(self.kubernetes.pod_cidr)
        if nodes > 2 ** (24 - pods.prefixlen):
            raise ValueError(
                f"kubernetes.pod_cidr {pods} holds {2 ** (24 - pods.prefixlen)} node blocks of /24 (Kubespray's "
                f"kube_network_node_prefix) but cloud.nodes lists {nodes}; use a shorter prefix"
            )
        return self

    @model_validator(mode="after")
    def _lab_ports_distinct(self) -> Config:
        envs = {e: self.environments.get(e).port for e in ENV_NAMES}
        for key, port in (("mlflow_port", self.lab.mlflow_port), ("endpoint_port", self.lab.endpoint_port)):
            clash = [e for e, p in envs.items() if p == port]
            if clash:
                raise ValueError(f"lab.{key} {port} is also environments.{clash[0]}.port; pick a free port")
        if self.lab.mlflow_port == self.lab.endpoint_port:
            raise ValueError(f"lab.endpoint_port {self.lab.endpoint_port} is also lab.mlflow_port; pick a free port")
        return self
