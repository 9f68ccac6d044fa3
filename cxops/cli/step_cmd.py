"""`cxops step <name>`: run one pipeline step. The same command runs in an Argo container step."""

from __future__ import annotations

from pathlib import Path

import typer

from cxops.cli.options import JSON
from cxops.pipeline.definition import COMMANDS  # light: dataclasses only, no pydantic/mlflow

app = typer.Typer(
    help="Run one pipeline step (train, evaluate, register, build, deploy, test, promote, ...).", no_args_is_help=True
)


def _help(command: str, param: str) -> str:
    """A positional argument's help, from the pipeline definition (the Argo UI shows the same text)."""
    p = next(p for p in COMMANDS[command].params if p.name == param)
    return f"{p.help}: {', '.join(p.enum)}." if p.enum else f"{p.help}."


OutputsDir = typer.Option(None, "--outputs-dir", help="Also write each output to a file here (Argo parameters).")


def report(result, outputs_dir: Path | None, json_out: bool) -> None:
    """Print a step result; write outputs; a failed gate exits 3 with its reasons, an inconclusive one exits 4."""
    from cxops.cli.output import emit_json, fail, key_values, ok
    from cxops.errors import GateFailed, GateInconclusive
    from cxops.gates.verdict import gate_line

    if outputs_dir is not None:
        result.write(outputs_dir)
    data = result.outputs()
    if json_out:
        emit_json(data)
    else:
        key_values(
            type(result).__name__.removesuffix("Result").lower(),
            {k: v for k, v in data.items() if k not in ("reasons",)},
        )
        if "passed" in data:
            (ok if data["passed"] else fail)(gate_line(data["gate"], data.get("outcome")))
            for reason in data.get("reasons", []):
                fail(reason)
    if data.get("outcome") == "inconclusive":
        raise GateInconclusive(f"{data['gate']} gate inconclusive (not promoted): " + "; ".join(data["reasons"]))
    if data.get("passed") is False:
        raise GateFailed(f"{data['gate']} gate failed: " + "; ".join(data["reasons"]))


@app.command()
def train(outputs_dir: Path = OutputsDir, json_out: bool = JSON) -> None:
    """Train the configured model in one MLflow run; outputs run_id."""
    report(_run("train", "training"), outputs_dir, json_out)


@app.command()
def evaluate(
    run_id: str = typer.Argument(..., help=_help("evaluate", "run_id")),
    outputs_dir: Path = OutputsDir,
    json_out: bool = JSON,
) -> None:
    """Evaluate a run on the held-out split against thresholds and production; exit 3 on a failed gate."""
    report(_run("evaluate", f"evaluating run {run_id}", run_id), outputs_dir, json_out)


@app.command()
def register(
    run_id: str = typer.Argument(..., help=_help("register", "run_id")),
    outputs_dir: Path = OutputsDir,
    json_out: bool = JSON,
) -> None:
    """Register a run that passed evaluation as a model version with lineage tags; alias `candidate`."""
    report(_run("register", f"registering run {run_id}", run_id), outputs_dir, json_out)


def _run(command: str, message: str, *args: str):
    from cxops.cli.output import spinner
    from cxops.config import load_config
    from cxops.pipeline.local import step_function
    from cxops.pipeline.steps._args import check_args

    check_args(command, args)  # a bad argument exits 2 (never retried) before anything is loaded or contacted
    cfg = load_config()
    with spinner(message):
        return step_function(command)(cfg, *args)


@app.command()
def build(
    version: str = typer.Argument(..., help=_help("build", "version")),
    outputs_dir: Path = OutputsDir,
    json_out: bool = JSON,
) -> None:
    """Assemble the serving artifact of a version under .cxops/builds/<model>/<version>/ (model, lineage, image)."""
    report(_run("build", f"building v{version}", version), outputs_dir, json_out)


@app.command()
def deploy(
    env: str = typer.Argument(..., help=_help("deploy", "env")),
    version: str = typer.Argument(..., help=_help("deploy", "version")),
    reason: str = typer.Option("manual deploy", help="Recorded in the commit message."),
    outputs_dir: Path = OutputsDir,
    json_out: bool = JSON,
) -> None:
    """Commit the env overlay, push, wait until the env serves the version, then set its alias."""
    report(_run("deploy", f"deploying v{version} to {env}", env, version, reason), outputs_dir, json_out)


@app.command("test")
def test_(
    env: str = typer.Argument("staging", help=_help("test", "env")),
    outputs_dir: Path = OutputsDir,
    json_out: bool = JSON,
) -> None:
    """Integration + load test of an environment; exit 3 if the gate fails."""
    report(_run("test", f"testing {env}", env), outputs_dir, json_out)


@app.command()
def promote(
    src: str = typer.Argument(..., help=_help("promote", "src")),
    dst: str = typer.Argument(..., help=_help("promote", "dst")),
    version: str = typer.Argument(None, help=_help("promote", "version") + " Default: SRC's alias."),
    outputs_dir: Path = OutputsDir,
    json_out: bool = JSON,
) -> None:
    """Move a version that passed SRC's gate into DST: alias + `<dst>-previous` + git commit."""
    args = (src, dst) + ((version,) if version else ())
    report(_run("promote", f"promoting {src} → {dst}", *args), outputs_dir, json_out)


@app.command()
def analyze(
    env: str = typer.Argument("canary", help=_help("analyze", "env")),
    outputs_dir: Path = OutputsDir,
    json_out: bool = JSON,
) -> None:
    """Canary vs production over the configured window; on failure rolls canary back and exits 3."""
    report(_run("analyze", "analysing canary", env), outputs_dir, json_out)


@app.command()
def rollback(
    env: str = typer.Argument(..., help=_help("rollback", "env")),
    reason: str = typer.Option("manual rollback", help="Recorded in the commit and on the version."),
    outputs_dir: Path = OutputsDir,
    json_out: bool = JSON,
) -> None:
    """Restore `<env>-previous` in the registry AND git, and wait until live agrees."""
    report(_run("rollback", f"rolling back {env}", env, reason), outputs_dir, json_out)
