"""The typed model of cxops.yaml. Unknown keys are errors everywhere (extra="forbid")."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Fraction = Annotated[float, Field(ge=0, le=1)]
Port = Annotated[int, Field(ge=1024, le=65535)]
Positive = Annotated[float, Field(gt=0)]

# MLflow accepts most names, but '/', ':' and '@' break `models:/Name@alias` URIs and Kubernetes labels; be strict.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
ENV_NAMES = ("staging", "canary", "production")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Project(Strict):
    name: str = Field(description="project name, a DNS label (used in resource and image names)")
    suffix: str = Field(description="appended to every cloud resource name so several users share a project")

    @field_validator("name", "suffix")
    @classmethod
    def _dns_label(cls, v: str) -> str:
        if not DNS_LABEL.match(v):
            raise ValueError(f"must be a DNS label (lowercase letters, digits, '-', at most 32), got {v!r}")
        return v


class Node(Strict):
    name: str
    address: str = Field(description="fixed IP on the private network")
    role: Literal["control", "worker", "gpu"] = "worker"

    @field_validator("address")
    @classmethod
    def _ip(cls, v: str) -> str:
        ipaddress.ip_address(v)
        return v


class Flavors(Strict):
    control: str = "m1.medium"
    worker: str = "m1.medium"
    gpu: str | None = None


class Cloud(Strict):
    name: str = Field(description="the entry in clouds.yaml (or OS_CLOUD) to use")
    region: str | None = None
    image: str
    flavors: Flavors = Flavors()
    key_pair: str
    external_network: str = "public"
    network_cidr: str = "192.168.1.0/24"
    nodes: list[Node]
    data_volume_gb: int = Field(10, ge=1, le=10000)
    reservation_id: str | None = Field(None, description="Blazar lease reservation for the flavor, if any")

    @field_validator("network_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        ipaddress.ip_network(v)
        return v

    @model_validator(mode="after")
    def _nodes_fit(self) -> Cloud:
        net = ipaddress.ip_network(self.network_cidr)
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique, got {names}")
        for n in self.nodes:
            if ipaddress.ip_address(n.address) not in net:
                raise ValueError(f"node {n.name} address {n.address} is outside network_cidr {self.network_cidr}")
        if not any(n.role == "control" for n in self.nodes):
            raise ValueError("at least one node must have role: control")
        return self


class Dataset(Strict):
    name: Literal["digits"] = "digits"
    test_size: float = Field(0.25, gt=0, lt=1)
    seed: int = 42


class ModelSpec(Strict):
    name: str = Field(description="registered model name in MLflow")
    project: str = Field(
        "cxops.model.digits:DigitsProject", description="module:Class implementing cxops.model.interface"
    )
    experiment: str = "cxops"
    dataset: Dataset = Dataset()
    params: dict[str, float | int | str | bool] = {}

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
    runner: Literal["local", "openstack-instance"] = "local"
    flavor: str = Field("m1.medium", description="flavor whose hourly rate prices the run (and runs it remotely)")
    timeout_seconds: int = Field(1800, ge=10)
    instance_command: list[str] = Field(
        ["cxops", "step", "train"],
        description="what the ephemeral instance runs (runner openstack-instance); its image must provide it",
    )


class EvaluationGate(Strict):
    min_accuracy: Fraction = 0.9
    min_macro_f1: Fraction = 0.9
    max_regression: Fraction = Field(0.01, description="allowed drop in accuracy vs the production model")


class StagingGate(Strict):
    requests: int = Field(400, ge=1, le=1_000_000)
    concurrency: int = Field(8, ge=1, le=1024)
    max_p95_ms: Positive = 200
    max_error_rate: Fraction = 0.01
    golden_samples: int = Field(20, ge=1)


class CanaryGate(Strict):
    window_seconds: Positive = 10
    requests: int = Field(600, ge=10)
    concurrency: int = Field(8, ge=1, le=1024)
    max_error_rate: Fraction = 0.02
    max_p95_ratio: Positive = Field(2.0, description="canary p95 / production p95")
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


class Gates(Strict):
    evaluation: EvaluationGate = EvaluationGate()
    staging: StagingGate = StagingGate()
    canary: CanaryGate = CanaryGate()


class Environment(Strict):
    port: Port
    replicas: int = Field(1, ge=1, le=64, description="pods in the cluster (the lab runs one process per env)")
    weight: int = Field(0, ge=0, le=100, description="share of traffic (percent); canary only")
    url: str | None = Field(None, description="where the env is reached; unset = http://127.0.0.1:<port> (lab)")


class Environments(Strict):
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
    max_batch: int = Field(1024, ge=1, le=100_000)
    image_registry: str = Field("registry.cxops.local/cxops", description="where built serving images are pushed")
    base_image: str = "python:3.11.11-slim-bookworm"

    @field_validator("base_image")
    @classmethod
    def _pinned(cls, v: str) -> str:
        if ":" not in v.rsplit("/", 1)[-1] or v.endswith(":latest"):
            raise ValueError(f"must be pinned by a tag other than latest, got {v!r}")
        return v


class GitOps(Strict):
    remote: str | None = Field(None, description="git URL of the GitOps repo; unset = the lab's local bare repo")
    branch: str = "main"
    overlays_dir: str = Field("k8s/serving/overlays", description="one kustomize overlay per environment under it")
    traffic_dir: str = Field("k8s/serving/traffic", description="the production/canary HTTPRoute and its grant")
    push_attempts: int = Field(5, ge=1, le=20)
    sync_timeout_seconds: Positive = Field(90, description="bound on waiting for an env to serve what git says")


class Lab(Strict):
    mlflow_port: Port = 5000
    state_dir: str = ".cxops"
    ready_timeout_seconds: Positive = 60
    endpoint_port: Port = Field(
        8188, description="the lab's one public endpoint (nginx on 127.0.0.1): splits production/canary like the "
        "cluster's Gateway, by the HTTPRoute weights in git"
    )


class Workflows(Strict):
    namespace: str = "argo"
    tools_image: str = "ghcr.io/cxops/cxops-tools:0.1.0"
    argo_server: str | None = Field(None, description="Argo Server URL; unset = no cluster configured")
    # In-cluster wiring of the rendered templates; defaults match the platform apps in k8s/.
    service_account: str = "cxops-workflow"
    builder_image: str = Field("moby/buildkit:v0.23.2-rootless", description="rootless BuildKit, pinned")
    repo_url: str = Field("https://github.com/cxops/cxops.git", description="source of the tools image")
    repo_revision: str = "main"
    mlflow_tracking_uri: str | None = Field(None, description="MLflow for workflow pods; unset = the platform's")
    s3_endpoint_url: str | None = Field(None, description="S3 API for artifacts; unset = the platform's store")
    prometheus_url: str | None = Field(None, description="Prometheus for the canary gate; unset = the platform's")
    argocd_server: str | None = Field(None, description="ArgoCD API for workflow pods; unset = the in-cluster one")
    argocd_app: str = Field("{project}-{env}", description="ArgoCD Application name; {project} and {env} filled in")
    sync_timeout_seconds: int = Field(600, ge=30, le=7200)
    s3_secret: str = Field("cxops-s3-credentials", description="keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY")
    git_deploy_key_secret: str = Field("cxops-gitops-deploy-key", description="keys ssh-privatekey, known_hosts")
    registry_auth_secret: str = Field("cxops-registry-auth", description="type dockerconfigjson, for image pushes")
    argocd_token_secret: str = Field("cxops-argocd-token", description="key token: a project-scoped ArgoCD token")
    retrain_schedules: list[str] = Field(["0 3 * * *"], min_length=1, description="cron lines for retraining")
    timezone: str = "UTC"
    gitops_guard_schedule: str = Field(
        "*/2 * * * *", description="cron line of the gitops-guard CronWorkflow: verify pushes (revert a bad one) "
        "and move registry aliases to what git deploys"
    )

    @field_validator("tools_image", "builder_image")
    @classmethod
    def _pinned_image(cls, v: str) -> str:
        if ":" not in v.rsplit("/", 1)[-1] or v.endswith(":latest"):
            raise ValueError(f"must be pinned by a tag other than latest, got {v!r}")
        return v


class Kubernetes(Strict):
    namespace_prefix: str = Field("cxops", description="environment namespaces are <prefix>-<env>")
    platform_namespace: str = Field("cxops-platform", description="MLflow, S3, Prometheus, gateway, registry")
    argocd_namespace: str = Field("argocd", description="where ArgoCD and its Applications live")
    gateway_name: str = Field("cxops-gateway", description="the Gateway API Gateway the HTTPRoutes attach to")

    @field_validator("namespace_prefix", "platform_namespace", "argocd_namespace", "gateway_name")
    @classmethod
    def _label(cls, v: str) -> str:
        if not DNS_LABEL.match(v):
            raise ValueError(f"must be a DNS label (lowercase letters, digits, '-', at most 32), got {v!r}")
        return v


class Costs(Strict):
    currency: str = "USD"
    rates_per_hour: dict[str, Annotated[float, Field(ge=0)]] = {}
    default_rate: Annotated[float, Field(ge=0)] = 0.0

    def rate(self, flavor: str) -> float:
        return self.rates_per_hour.get(flavor, self.default_rate)


class Config(Strict):
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
    costs: Costs = Costs()

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
