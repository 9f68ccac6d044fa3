"""The CronWorkflows (audit W8): shipped suspended, and an unattended retrain stops before production unless
cxops.yaml says otherwise. The chain is followed as Argo would on the success path: each hand-on's `when` is
evaluated (wf_helpers.evaluate_when) with the parameters the CronWorkflow passes."""

from __future__ import annotations

from tests.workflows.wf_helpers import cxops_steps, manifests, templates_of, workflow_templates


def _cron_chain(cron_file: str, overrides: dict[str, str] | None = None) -> list[tuple[str, str, tuple[str, ...]]]:
    cron = manifests()[cron_file]["spec"]
    name = cron["workflowSpec"]["workflowTemplateRef"]["name"]
    wt = workflow_templates()[name]
    entry = templates_of(wt)[wt["spec"]["entrypoint"]]
    params = {p["name"]: str(p["value"]) for p in cron["workflowSpec"]["arguments"]["parameters"]}
    defaults = {p["name"]: str(p.get("value", "")) for p in wt["spec"]["arguments"]["parameters"]}
    env = {**defaults, **params, **(overrides or {})}
    return cxops_steps(name, entry, env)


def test_cron_workflows_ship_suspended():
    crons = {n: d for n, d in manifests().items() if d["kind"] == "CronWorkflow"}
    assert set(crons) == {"scheduled-retrain.yaml", "scheduled-gitops-guard.yaml"}
    for name, doc in crons.items():
        assert doc["spec"].get("suspend") is True, f"{name} runs unattended from the first sync"


def test_scheduled_retrain_stops_before_production():
    steps = _cron_chain("scheduled-retrain.yaml")
    moves = [(cmd, args) for _, cmd, args in steps if cmd in ("deploy", "promote")]
    assert ("promote", ("staging", "canary", "{register.version}")) in moves  # it does reach canary
    assert not any(args[1:2] == ("production",) for cmd, args in moves if cmd == "promote"), moves


def test_to_production_true_goes_all_the_way():
    steps = _cron_chain("scheduled-retrain.yaml", {"to_production": "true"})
    assert steps[-1][1:] == ("promote", ("canary", "production", "{register.version}"))


def test_build_initial_runs_nothing_in_the_image_it_builds():
    """Audit W7: on the first run the tools image does not exist; a step (or exit handler) in it never starts."""
    wt = workflow_templates()["build-initial"]
    built = next(p["value"] for p in wt["spec"]["arguments"]["parameters"] if p["name"] == "image")
    assert "onExit" not in wt["spec"], "an exit handler would run in the image not yet built"
    images = {t["container"]["image"] for t in wt["spec"]["templates"] if "container" in t}
    assert built not in images and images, images
