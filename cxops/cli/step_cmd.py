"""`cxops step <name>`: run one pipeline step. The same command runs in an Argo container step."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Run one pipeline step (train, evaluate, register, build, deploy, test, promote, ...).",
                  no_args_is_help=True)

OutputsDir = typer.Option(None, "--outputs-dir", help="Also write each output to a file here (Argo parameters).")
JsonOut = typer.Option(False, "--json", help="Print the result as JSON.")


def report(result, outputs_dir: Path | None, json_out: bool) -> None:
    """Print a step result; write outputs; a failed gate exits 3 with its reasons."""
    from cxops.cli.output import emit_json, fail, key_values, ok
    from cxops.errors import GateFailed

    if outputs_dir is not None:
        result.write(outputs_dir)
    data = result.outputs()
    if json_out:
        emit_json(data)
    else:
        key_values(type(result).__name__.removesuffix("Result").lower(), {
            k: v for k, v in data.items() if k not in ("reasons",)
        })
        if "passed" in data:
            (ok if data["passed"] else fail)(f"{data['gate']} gate {'passed' if data['passed'] else 'FAILED'}")
            for reason in data.get("reasons", []):
                fail(reason)
    if data.get("passed") is False:
        raise GateFailed(f"{data['gate']} gate failed: " + "; ".join(data["reasons"]))


@app.command()
def train(outputs_dir: Path = OutputsDir, json_out: bool = JsonOut) -> None:
    """Train the configured model in one MLflow run; outputs run_id."""
    from cxops.cli.output import spinner
    from cxops.config import load_config
    from cxops.pipeline.steps import train as step

    cfg = load_config()
    with spinner(f"training {cfg.model.name}"):
        result = step.run(cfg)
    report(result, outputs_dir, json_out)


@app.command()
def evaluate(run_id: str = typer.Argument(..., help="MLflow run id from `cxops step train`."),
             outputs_dir: Path = OutputsDir, json_out: bool = JsonOut) -> None:
    """Evaluate a run on the held-out split against thresholds and production; exit 3 on a failed gate."""
    from cxops.cli.output import spinner
    from cxops.config import load_config
    from cxops.pipeline.steps import evaluate as step

    with spinner(f"evaluating run {run_id}"):
        result = step.run(load_config(), run_id)
    report(result, outputs_dir, json_out)


@app.command()
def register(run_id: str = typer.Argument(..., help="A run that passed evaluation."),
             outputs_dir: Path = OutputsDir, json_out: bool = JsonOut) -> None:
    """Register a run that passed evaluation as a model version with lineage tags; alias `candidate`."""
    from cxops.cli.output import spinner
    from cxops.config import load_config
    from cxops.pipeline.steps import register as step

    with spinner(f"registering run {run_id}"):
        result = step.run(load_config(), run_id)
    report(result, outputs_dir, json_out)
