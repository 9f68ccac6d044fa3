"""Container templates that run in the one pinned tools image: `cxops step ...` and cxops' own helpers.

Every pipeline step becomes one container template whose inputs are its command's positional arguments (literal
arguments become defaults) and whose outputs are the files `cxops step --outputs-dir` writes.
"""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.cluster_secrets import MLFLOW_PASSWORD_KEY, MLFLOW_USER_KEY
from cxops.config.schema import Config
from cxops.errors import ExitCode
from cxops.pipeline.definition import COMMANDS, Param, Step
from cxops.workflows.chain import arg_params, is_ref

OUTPUTS_DIR = "/tmp/cxops-outputs"
GIT_KEY_DIR = "/etc/cxops/git"
TOOLS_UID = 10001  # the non-root user of docker/tools.Dockerfile
# Exit codes as Argo compares them (strings in its expressions), from cxops.errors.ExitCode:
TRANSIENT = str(ExitCode.ERROR.value)  # a step's network/tooling failure: worth a retry
USAGE = str(ExitCode.USAGE.value)  # UsageError / ConfigError (and Typer's own usage errors): the same input fails again
GATE_FAILED = str(ExitCode.GATE_FAILED.value)  # GateFailed: never retried; the step has already acted (rolled back)
INCONCLUSIVE = str(ExitCode.GATE_INCONCLUSIVE.value)  # GateInconclusive: never promoted, retried or rolled back


# Parameters that are no command's argument but appear in the Argo UI's submit forms.
EXTRA_PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param(
            name="chain",
            help="true: hand on to the next stage when this one succeeds; false: stop after it",
            enum=("true", "false"),
        ),
        Param(
            name="to_production",
            help="true: the chain may go on to production; false: it stops before promoting to production "
            "(the scheduled retrain's default, workflows.scheduled_retrain_to_production)",
            enum=("true", "false"),
        ),
        Param(name="image", help="serving image the environment must run (empty: whatever the version's build says)"),
        Param(name="revision", help="GitOps commit ArgoCD must have synced (empty: any)"),
        Param(name="repo_url", help="git repository the tools image is built from"),
    )
}


def param_doc(name: str) -> Param:
    """Help text and closed value set of a parameter name, from the pipeline definition (one source)."""
    for command in COMMANDS.values():
        for p in command.params:
            if p.name == name:
                return p
    if name in EXTRA_PARAMS:
        return EXTRA_PARAMS[name]
    raise KeyError(f"parameter {name!r} has no description in cxops.pipeline.definition or EXTRA_PARAMS")


def parameter(name: str, *, default: str | None = None, value: str | None = None, command: str | None = None) -> Any:
    """A Hera Parameter with the description and enum the Argo UI's submit form shows.

    `command` picks that command's own definition of `name` (e.g. promote's `src` allows only staging, canary)."""
    from hera.workflows import Parameter

    doc = next((p for p in COMMANDS[command].params if p.name == name), None) if command else None
    doc = doc or param_doc(name)
    # Hera renders an explicit None as the string 'null': pass only what is set
    p = Parameter(name=name, description=doc.help)
    if default is not None:
        p.default = default
    if value is not None:
        p.value = value
    if doc.enum:
        p.enum = list(doc.enum)
    return p


def security_context() -> Any:
    from hera.workflows.models import Capabilities, SecurityContext

    return SecurityContext(
        run_as_non_root=True,
        run_as_user=TOOLS_UID,
        allow_privilege_escalation=False,
        capabilities=Capabilities(drop=["ALL"]),
    )


def retry_expression() -> str:
    """Argo's retryStrategy.expression: retry a transient failure (exit 1) or an Argo/pod error (status Error,
    exit code -1 when the container never reported one), but never a usage error (exit 2), a failed gate (3) or an
    inconclusive one (4), even when Argo marks that node Error (e.g. its wait container failed afterwards)."""
    final = ", ".join((USAGE, GATE_FAILED, INCONCLUSIVE))
    code = "asInt(lastRetry.exitCode)"
    return f"{code} == {TRANSIENT} || (lastRetry.status == 'Error' && !({code} in [{final}]))"


def retry_strategy(limit: int, max_seconds: int) -> Any:
    """Bounded, backed off, and only for transient failures: a failed gate (exit 3), an inconclusive one (exit 4)
    or a bad argument (exit 2) would end the same way again (see retry_expression)."""
    from hera.workflows.models import Backoff, IntOrString, RetryStrategy

    return RetryStrategy(
        limit=IntOrString(root=limit),
        retry_policy="Always",
        expression=retry_expression(),
        backoff=Backoff(duration="15s", factor=IntOrString(root=2), max_duration=f"{max_seconds}s"),
    )


def base_env(cfg: Config) -> list:
    """What every tools container may need; credentials only as secretKeyRef, never as literal values."""
    from hera.workflows import Env, SecretEnv

    w = cfg.workflows
    return [
        Env(name="CXOPS_EXECUTOR", value="argo"),
        Env(name="MLFLOW_TRACKING_URI", value=names.mlflow_tracking_uri(cfg)),
        Env(name="MLFLOW_S3_ENDPOINT_URL", value=names.s3_endpoint_url(cfg)),
        Env(name="PROMETHEUS_URL", value=names.prometheus_url(cfg)),
        SecretEnv(name="AWS_ACCESS_KEY_ID", secret_name=w.s3_secret, secret_key="AWS_ACCESS_KEY_ID"),
        SecretEnv(name="AWS_SECRET_ACCESS_KEY", secret_name=w.s3_secret, secret_key="AWS_SECRET_ACCESS_KEY"),
        *(
            SecretEnv(name=key, secret_name=names.mlflow_admin_secret(cfg), secret_key=key)
            for key in (MLFLOW_USER_KEY, MLFLOW_PASSWORD_KEY)
        ),
    ]


def git_env_and_volumes(cfg: Config) -> tuple[list, list]:
    """The scoped deploy key, mounted read-only as a file (root-owned 0440, readable via fsGroup)."""
    from hera.workflows import Env, SecretVolume

    ssh = (
        f"ssh -i {GIT_KEY_DIR}/ssh-privatekey -o IdentitiesOnly=yes "
        f"-o UserKnownHostsFile={GIT_KEY_DIR}/known_hosts -o StrictHostKeyChecking=yes"
    )
    env = [Env(name="GIT_SSH_COMMAND", value=ssh)]
    vols = [
        SecretVolume(
            name="git-deploy-key",
            secret_name=cfg.workflows.git_deploy_key_secret,
            mount_path=GIT_KEY_DIR,
            read_only=True,
            default_mode=0o440,
        )
    ]
    return env, vols


def argocd_token_env(cfg: Config) -> Any:
    """ARGOCD_AUTH_TOKEN from the project-scoped token Secret (the deploy role: get the project's Applications)."""
    from hera.workflows import SecretEnv

    return SecretEnv(name="ARGOCD_AUTH_TOKEN", secret_name=cfg.workflows.argocd_token_secret, secret_key="token")


def pod_security_context() -> Any:
    from hera.workflows.models import PodSecurityContext

    return PodSecurityContext(run_as_non_root=True, run_as_user=TOOLS_UID, run_as_group=TOOLS_UID, fs_group=TOOLS_UID)


def step_template(cfg: Config, s: Step, name: str | None = None, literal_defaults: bool = True) -> Any:
    """`cxops step <command> <args> --outputs-dir DIR` as a container template named after the step."""
    from hera.workflows import Container, Parameter
    from hera.workflows.models import ValueFrom

    params = arg_params(s)
    inputs = [
        parameter(p, command=s.command)
        if is_ref(a) or not literal_defaults
        else parameter(p, default=a, command=s.command)
        for p, a in params
    ]
    outputs = [Parameter(name=o, value_from=ValueFrom(path=f"{OUTPUTS_DIR}/{o}")) for o in s.outputs]
    env, volumes = base_env(cfg), list[Any]()
    if COMMANDS[s.command].needs_gitops_access:
        git_env, volumes = git_env_and_volumes(cfg)
        env += [*git_env, argocd_token_env(cfg)]  # the step itself waits on ArgoCD before it reports success
    attempts = s.retries + 1
    return Container(
        name=name or s.id,
        image=names.tools_image(cfg),
        image_pull_policy="IfNotPresent",
        command=["cxops", "step", s.command],
        args=[*(f"{{{{inputs.parameters.{p}}}}}" for p, _ in params), "--outputs-dir", OUTPUTS_DIR],
        inputs=inputs,
        outputs=outputs,
        env=env,
        volumes=volumes,
        security_context=security_context(),
        pod_security_context=pod_security_context(),
        active_deadline_seconds=s.timeout_seconds,
        retry_strategy=retry_strategy(s.retries, s.timeout_seconds * attempts) if s.retries else None,
        annotations={"cxops.dev/step": s.id, "cxops.dev/description": s.description},
    )


def wait_synced_template(cfg: Config, name: str = "wait-synced") -> Any:
    """Bounded wait until the env's ArgoCD Application is Synced+Healthy at the pushed commit and image."""
    from hera.workflows import Container

    w = cfg.workflows
    app = names.argocd_app(cfg, "{{inputs.parameters.env}}")
    return Container(
        name=name,
        image=names.tools_image(cfg),
        image_pull_policy="IfNotPresent",
        command=["cxops", "workflows", "wait-synced"],
        args=[
            app,
            "--revision",
            "{{inputs.parameters.revision}}",
            "--image",
            "{{inputs.parameters.image}}",
            "--server",
            names.argocd_server(cfg),
            "--timeout",
            str(w.sync_timeout_seconds),
        ],
        inputs=[parameter("env"), parameter("revision", default=""), parameter("image", default="")],
        env=[argocd_token_env(cfg)],
        security_context=security_context(),
        pod_security_context=pod_security_context(),
        active_deadline_seconds=w.sync_timeout_seconds + 60,
        retry_strategy=retry_strategy(2, 3 * (w.sync_timeout_seconds + 60)),
    )


def outcome_template(cfg: Config, name: str = "record-outcome") -> Any:
    """The exit handler: one JSON line and an output parameter with the workflow's outcome (Argo UI shows it)."""
    from hera.workflows import Container, Parameter
    from hera.workflows.models import ValueFrom

    return Container(
        name=name,
        image=names.tools_image(cfg),
        image_pull_policy="IfNotPresent",
        command=["cxops", "workflows", "outcome"],
        args=[
            "--workflow",
            "{{workflow.name}}",
            "--status",
            "{{workflow.status}}",
            "--duration",
            "{{workflow.duration}}",
            "--failures",
            "{{workflow.failures}}",
            "--outputs-dir",
            OUTPUTS_DIR,
        ],
        outputs=[Parameter(name="outcome", value_from=ValueFrom(path=f"{OUTPUTS_DIR}/outcome.json"))],
        security_context=security_context(),
        pod_security_context=pod_security_context(),
        active_deadline_seconds=120,
        retry_strategy=retry_strategy(2, 300),
    )
