"""The cluster's side of promotion by `git push`: the `gitops-guard` WorkflowTemplate and its CronWorkflow.

`verify-push` runs `cxops gitops guard` (verify what reached the GitOps branch since the last verified commit;
revert a bad push with a commit that says why, exit 3), then `reconcile` runs `cxops reconcile` (move each env's
registry alias to what git deploys once live serves it). The CronWorkflow runs it on `workflows.gitops_guard_schedule`
(docs/workflows.md). Both containers push or read git, so both get the scoped deploy key.
"""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.config.schema import Config
from cxops.workflows import tools

NAME = "gitops-guard"
CRON = "scheduled-gitops-guard"
EXIT = "record-outcome"
STEP_SECONDS = 600
RETRIES = 2
LABELS = {"app.kubernetes.io/part-of": "cxops", "app.kubernetes.io/managed-by": "cxops-workflows-render"}


def _container(cfg: Config, name: str, command: list[str], args: list[str], description: str) -> Any:
    from hera.workflows import Container

    git_env, volumes = tools.git_env_and_volumes(cfg)
    return Container(
        name=name,
        image=names.tools_image(cfg),
        image_pull_policy="IfNotPresent",
        command=command,
        args=args,
        env=tools.base_env(cfg) + git_env,
        volumes=volumes,
        security_context=tools.security_context(),
        pod_security_context=tools.pod_security_context(),
        active_deadline_seconds=STEP_SECONDS,
        retry_strategy=tools.retry_strategy(RETRIES, STEP_SECONDS * (RETRIES + 1)),
        annotations={"cxops.dev/step": name, "cxops.dev/description": description},
    )


def deadline() -> int:
    """Both steps with all their retries, plus the exit handler's slack."""
    return 2 * STEP_SECONDS * (RETRIES + 1) + 300


def guard_template(cfg: Config) -> Any:
    from hera.workflows import DAG, Task, WorkflowTemplate
    from hera.workflows.models import PodGC, TTLStrategy

    with WorkflowTemplate(
        name=NAME,
        namespace=cfg.workflows.namespace,
        labels=LABELS,
        entrypoint="main",
        on_exit=EXIT,
        active_deadline_seconds=deadline(),
        service_account_name=cfg.workflows.service_account,
        pod_gc=PodGC(strategy="OnPodSuccess"),
        ttl_strategy=TTLStrategy(seconds_after_completion=7 * 24 * 3600),
    ) as wt:
        tools.outcome_template(cfg, EXIT)
        _container(
            cfg,
            "verify-push",
            ["cxops", "gitops", "guard"],
            ["--outputs-dir", tools.OUTPUTS_DIR],
            "verify pushes since the last verified commit; revert a bad one with a commit that says why",
        )
        _container(
            cfg,
            "reconcile",
            ["cxops", "reconcile"],
            ["--no-start-lab"],
            "move each environment's registry alias to what git deploys, once live serves it",
        )
        with DAG(name="main"):  # Argo v4 admits activeDeadlineSeconds on leaf templates only; the workflow's bounds it
            Task(name="verify-push", template="verify-push")
            Task(name="reconcile", template="reconcile", depends="verify-push")
    return wt


def guard_cron(cfg: Config) -> Any:
    from hera.workflows import CronWorkflow
    from hera.workflows.models import WorkflowTemplateRef

    w = cfg.workflows
    return CronWorkflow(
        name=CRON,
        namespace=w.namespace,
        labels=LABELS,
        schedules=[w.gitops_guard_schedule],
        timezone=w.timezone,
        concurrency_policy="Forbid",  # two guards at once could both revert the same push
        starting_deadline_seconds=120,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=5,
        workflow_template_ref=WorkflowTemplateRef(name=NAME),
        active_deadline_seconds=deadline(),
        cron_suspend=not w.schedules_enabled,  # shipped suspended: it fails until the deploy key and tools image exist
    )


def manifests(cfg: Config) -> list[Any]:
    """What `cxops workflows render` adds for promotion by push: the template and its schedule."""
    return [guard_template(cfg), guard_cron(cfg)]
