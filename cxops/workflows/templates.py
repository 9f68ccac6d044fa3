"""The WorkflowTemplates and the CronWorkflow, all derived from cxops.pipeline.definition.PIPELINE.

One WorkflowTemplate per step `template`; inside it one container template per step and one DAG per segment
(see chain.py).
A segment's DAG ends with a templateRef task into the next segment, so a whole run is one Workflow: the parent
waits for its children and fails when they fail; no fire-and-forget child workflows.
"""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.config.schema import Config
from cxops.pipeline.definition import PIPELINE, ROLLBACK, Step
from cxops.workflows import builder, gitops_guard, tools
from cxops.workflows.chain import GIT_COMMANDS, Ref, Segment, arg_params, by_template, image_ref, is_ref, param_name
from cxops.workflows.tools import parameter

CHAIN = "chain"  # "true": hand on to the next stage when this one succeeds; "false": stop here
TO_PRODUCTION = "to_production"  # "false": the chain stops before the stage that moves production (scheduled runs)
BUILD_INITIAL = "build-initial"
CRON = "scheduled-retrain"
EXIT = "record-outcome"
LABELS = {"app.kubernetes.io/part-of": "cxops", "app.kubernetes.io/managed-by": "cxops-workflows-render"}


def _step_cost(cfg: Config, s: Step) -> int:
    """Worst-case seconds of a step's task group, retries included; the deadlines above it add these up."""
    wait = cfg.workflows.sync_timeout_seconds + 60
    cost = s.timeout_seconds * (s.retries + 1)
    if s.command in GIT_COMMANDS:
        cost += 3 * wait
    if s.on_failure == "rollback":
        cost += ROLLBACK.timeout_seconds * (ROLLBACK.retries + 1) + 3 * wait
    return cost


def chain_deadline(cfg: Config, segs: list[Segment], k: int) -> int:
    return sum(_step_cost(cfg, s) for seg in segs[k:] for s in seg.steps) + 60 * (len(segs) - k)


def _value(arg: str, seg: Segment) -> str:
    """A step argument inside a segment's DAG: a literal, a sibling task's output, or a carried input."""
    if not is_ref(arg):
        return arg
    ref_step, output = arg[1:-1].split(".")
    return _ref_value((ref_step, output), seg)


def _ref_value(ref: Ref, seg: Segment) -> str:
    if ref[0] in {s.id for s in seg.steps}:
        return f"{{{{tasks.{ref[0]}.outputs.parameters.{ref[1]}}}}}"
    return f"{{{{inputs.parameters.{param_name(ref)}}}}}"


def _target_env(s: Step) -> str:
    """The environment a git step changes: deploy ENV ..., promote SRC DST ..., rollback ENV."""
    args = dict(arg_params(s))
    return args["dst"] if s.command == "promote" else args["env"]


def _segment_dag(cfg: Config, seg: Segment, nxt: Segment | None, segs: list[Segment]) -> Any:
    from hera.workflows import DAG, Task
    from hera.workflows.models import TemplateRef

    inputs = [parameter(param_name(r)) for r in seg.carried]
    inputs += [parameter(CHAIN, default="true"), parameter(TO_PRODUCTION, default="true")]
    # no activeDeadlineSeconds on a DAG: Argo v4's CRDs admit it on leaf templates only; the workflow's own deadline
    # (chain_deadline of its first segment) and each step's bound the chain
    with DAG(name=seg.name, inputs=inputs) as dag:
        last: str | None = None
        for s in seg.steps:
            args = {p: _value(a, seg) for p, a in arg_params(s)}
            Task(name=s.id, template=s.id, arguments=args, depends=last)
            last = s.id
            if s.command in GIT_COMMANDS:
                img = image_ref(s)
                Task(
                    name=f"{s.id}-synced",
                    template="wait-synced",
                    depends=s.id,
                    arguments={
                        "env": _value(_target_env(s), seg),
                        "revision": f"{{{{tasks.{s.id}.outputs.parameters.commit}}}}",
                        "image": _ref_value(img, seg) if img else "",
                    },
                )
                last = f"{s.id}-synced"
            if s.on_failure == "rollback":
                # The step rolls back by itself on a failed gate (exit 3) and must not on an inconclusive one
                # (exit 4: canary left as is for a human); this covers a crash or a lost pod.
                code = f"'{{{{tasks.{s.id}.exitCode}}}}'"
                Task(
                    name=f"{s.id}-rollback",
                    template=ROLLBACK.id,
                    arguments={"env": _target_env(s)},
                    depends=f"{s.id}.Failed || {s.id}.Errored",
                    when=f"{code} != '{tools.GATE_FAILED}' && {code} != '{tools.INCONCLUSIVE}'",
                )
        if nxt is not None:
            args = {param_name(r): _ref_value(r, seg) for r in nxt.carried}
            when = f"{{{{inputs.parameters.{CHAIN}}}}} == true"
            if _moves_production(nxt):
                when += f" && {{{{inputs.parameters.{TO_PRODUCTION}}}}} == true"
            Task(
                name=f"next-{nxt.template}",
                template_ref=TemplateRef(name=nxt.template, template=nxt.name),
                arguments={**args, CHAIN: "true", TO_PRODUCTION: f"{{{{inputs.parameters.{TO_PRODUCTION}}}}}"},
                depends=last,
                when=when,
            )
    return dag


def _moves_production(seg: Segment) -> bool:
    """True when the segment's first step changes production through git (promote ... production, deploy
    production): the hand-off into it is what `to_production=false` holds back."""
    s = seg.steps[0]
    return s.command in GIT_COMMANDS and _target_env(s) == "production"


def _manual_dag(cfg: Config, seg: Segment) -> Any:
    """Entry of a template used by several segments (promote-model): run its first step with any arguments."""
    from hera.workflows import DAG, Task

    s = seg.steps[0]
    params = arg_params(s)
    inputs = [
        parameter(p, command=s.command) if is_ref(a) else parameter(p, default=a, command=s.command) for p, a in params
    ]
    inputs.append(parameter("image", default=""))
    with DAG(name="main", inputs=inputs) as dag:  # bounded by the workflow's deadline (leaf-only rule, see above)
        Task(name=s.id, template=s.id, arguments={p: f"{{{{inputs.parameters.{p}}}}}" for p, _ in params})
        if s.command in GIT_COMMANDS:
            env = "{{inputs.parameters.dst}}" if s.command == "promote" else "{{inputs.parameters.env}}"
            Task(
                name=f"{s.id}-synced",
                template="wait-synced",
                depends=s.id,
                arguments={
                    "env": env,
                    "revision": f"{{{{tasks.{s.id}.outputs.parameters.commit}}}}",
                    "image": "{{inputs.parameters.image}}",
                },
            )
    return dag


def _workflow_template(
    cfg: Config, name: str, deadline: int, arguments: list, entrypoint: str, on_exit: str | None = EXIT
) -> Any:
    from hera.workflows import WorkflowTemplate
    from hera.workflows.models import PodGC, TTLStrategy

    return WorkflowTemplate(
        name=name,
        namespace=cfg.workflows.namespace,
        labels=LABELS,
        entrypoint=entrypoint,
        arguments=arguments,
        on_exit=on_exit,
        active_deadline_seconds=deadline,
        service_account_name=cfg.workflows.service_account,
        pod_gc=PodGC(strategy="OnPodSuccess"),
        ttl_strategy=TTLStrategy(seconds_after_completion=7 * 24 * 3600),
    )


def step_workflow_template(cfg: Config, name: str, segs: list[Segment], all_segs: list[Segment]) -> Any:
    """The WorkflowTemplate `name`: a container per step, a DAG per segment; its arguments are the UI's form."""
    steps = list(dict.fromkeys(s for seg in segs for s in seg.steps))
    first = segs[0]
    if len(segs) == 1:
        entry = first.name
        arguments = [parameter(param_name(r)) for r in first.carried]
        arguments += [parameter(CHAIN, value="true"), parameter(TO_PRODUCTION, value="true")]
    else:
        entry = "main"
        cmd = first.steps[0].command
        arguments = [
            parameter(p, command=cmd) if is_ref(a) else parameter(p, value=a, command=cmd)
            for p, a in arg_params(first.steps[0])
        ] + [parameter("image", value="")]
    deadline = chain_deadline(cfg, all_segs, first.index) + 300
    with _workflow_template(cfg, name, deadline, arguments, entry) as wt:
        tools.outcome_template(cfg, EXIT)  # inside the `with`: an exit handler made outside is silently dropped
        for s in steps:
            builder.build_template(cfg, s) if s.command == "build" else tools.step_template(cfg, s)
        if any(s.command in GIT_COMMANDS for s in steps):
            tools.wait_synced_template(cfg)
        if any(s.on_failure == "rollback" for s in steps):
            tools.step_template(cfg, ROLLBACK, literal_defaults=False)
        for seg in segs:
            nxt = all_segs[seg.index + 1] if seg.index + 1 < len(all_segs) else None
            _segment_dag(cfg, seg, nxt, all_segs)
        if len(segs) > 1:
            _manual_dag(cfg, first)
    return wt


def rollback_template(cfg: Config) -> Any:
    """The stand-alone `rollback-model` WorkflowTemplate: ROLLBACK for any environment, then the ArgoCD wait."""
    from hera.workflows import DAG, Task

    deadline = _step_cost(cfg, ROLLBACK)
    env_param = parameter("env")  # no default: the person submitting chooses which env
    with _workflow_template(cfg, ROLLBACK.template, deadline + 300, [env_param], "main") as wt:
        tools.outcome_template(cfg, EXIT)
        tools.step_template(cfg, ROLLBACK, literal_defaults=False)
        tools.wait_synced_template(cfg)
        with DAG(name="main", inputs=[parameter("env")]):  # the workflow's deadline bounds it
            Task(name=ROLLBACK.id, template=ROLLBACK.id, arguments={"env": "{{inputs.parameters.env}}"})
            Task(
                name=f"{ROLLBACK.id}-synced",
                template="wait-synced",
                depends=ROLLBACK.id,
                arguments={
                    "env": "{{inputs.parameters.env}}",
                    "revision": f"{{{{tasks.{ROLLBACK.id}.outputs.parameters.commit}}}}",
                },
            )
    return wt


def build_initial_template(cfg: Config) -> Any:
    from hera.workflows import Parameter

    w = cfg.workflows
    arguments = [
        Parameter(name="repo_url", value=w.repo_url, description="git repository the image is built from"),
        Parameter(name="revision", value=w.repo_revision, description="git branch, tag or commit to build"),
        Parameter(name="image", value=names.tools_image(cfg), description="tools image reference to push (pinned)"),
        Parameter(
            name="model_requirements",
            value=" ".join(cfg.model.requirements),
            description="the model project's own requirements (model.requirements, exact pins), installed in the image",
        ),
    ]
    # No exit handler: `record-outcome` runs in the tools image, which does not exist before this workflow's first
    # run (its pod would never start and fail the workflow); Argo's own status is the outcome here.
    with _workflow_template(cfg, BUILD_INITIAL, 3 * 1800 + 300, arguments, "build-tools-image", on_exit=None) as wt:
        builder.tools_image_template(cfg)
    return wt


def cron_workflow(cfg: Config, first_template: str, deadline: int) -> Any:
    from hera.workflows import CronWorkflow
    from hera.workflows.models import WorkflowTemplateRef

    w = cfg.workflows
    return CronWorkflow(
        name=CRON,
        namespace=w.namespace,
        labels=LABELS,
        schedules=list(w.retrain_schedules),
        timezone=w.timezone,
        concurrency_policy="Forbid",  # a retrain still running is not doubled
        starting_deadline_seconds=600,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=5,
        workflow_template_ref=WorkflowTemplateRef(name=first_template),
        active_deadline_seconds=deadline,
        # shipped suspended: nothing runs unattended until the operator says so in cxops.yaml (and git), and an
        # unattended run stops before production unless workflows.scheduled_retrain_to_production says otherwise
        cron_suspend=not w.schedules_enabled,
        arguments=[
            parameter(CHAIN, value="true"),
            parameter(TO_PRODUCTION, value=str(w.scheduled_retrain_to_production).lower()),
        ],
    )


def all_manifests(cfg: Config) -> list[Any]:
    """Everything `cxops workflows render` writes, in a stable order."""
    templates = by_template(PIPELINE)
    all_segs = [seg for segs in templates.values() for seg in segs]
    all_segs.sort(key=lambda seg: seg.index)
    out = [step_workflow_template(cfg, name, segs, all_segs) for name, segs in templates.items()]
    cron = cron_workflow(cfg, all_segs[0].template, chain_deadline(cfg, all_segs, 0) + 300)
    out += [rollback_template(cfg), build_initial_template(cfg), cron]
    out += gitops_guard.manifests(cfg)  # promotion by git push: verify/revert pushes, registry follows git
    return out
