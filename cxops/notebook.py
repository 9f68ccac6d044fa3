"""What the walkthrough notebooks (notebooks/) call: run a `cxops` command and show its output, show gate evidence.

The notebooks hold no logic of their own: each cell is `run("…")` (the same command a person types in a shell) or a
call into this module. The configuration comes from `$CXOPS_CONFIG`, else the nearest cxops.yaml in the working
directory or a parent (a kernel in notebooks/ finds the project's), as for every command.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxops.errors import CxopsError
from cxops.settings import settings

# Cells that need a real cloud or a real cluster carry one of these tags; the tests' executor skips them and lists
# them (tests/notebook_runner.py). The tag's markdown cell above says why.
GUARD_TAGS = ("needs-cloud", "needs-cluster")
DEFAULT_TIMEOUT = 1800.0  # s: the longest command a notebook runs (a whole lifecycle on a loaded 2-core machine)


@dataclass(frozen=True)
class Result:
    """One finished command: its exit code and what it printed (stdout and stderr, as text)."""

    command: str
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON (for commands run with --json). Raises CxopsError when it is not JSON."""
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as exc:
            raise CxopsError(f"`cxops {self.command}` printed no JSON: {exc}") from None

    def _ipython_display_(self) -> None:
        """Display nothing: `run` already printed the output, so a cell ending in `run(...)` must not show it again
        as this object's repr (IPython's display protocol)."""


def run(command: str, ok: tuple[int, ...] = (0,), timeout: float = DEFAULT_TIMEOUT, quiet: bool = False) -> Result:
    """Run `cxops COMMAND` (shell-style quoting) as its own process, print what it printed, return the Result.

    `ok` lists the exit codes that are expected (e.g. (0, 3) where a gate may say no); any other code raises
    CxopsError naming the command and code, so a notebook stops at the first unexpected failure. `quiet` prints
    nothing (for --json output a later cell reads). Bounded by `timeout` seconds.
    """
    argv = [sys.executable, "-m", "cxops", *shlex.split(command)]
    # The kernel sets FORCE_COLOR / CLICOLOR_FORCE for its own output; the command writes to a pipe this cell reprints,
    # so neither it nor the tools it runs (git, terraform, ansible) should draw colours or spinners into it.
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    env["COLUMNS"] = settings().columns or "120"
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise CxopsError(f"`cxops {command}` did not finish within {timeout:.0f}s") from None
    if not quiet:
        sys.stdout.write(proc.stdout)
        sys.stdout.write(proc.stderr)
        sys.stdout.flush()
    if proc.returncode not in ok:
        raise CxopsError(f"`cxops {command}` exited {proc.returncode} (expected {', '.join(map(str, ok))})")
    return Result(command, proc.returncode, proc.stdout, proc.stderr)


def alias_version(alias: str) -> str | None:
    """The version number the registry alias (production, canary, staging, …) points at, or None."""
    from cxops.config import load_config
    from cxops.registry.client import Registry

    info = Registry(load_config()).alias_version(alias)
    return None if info is None else str(info.version)


def gate_reports(version: str) -> list[Path]:
    """The gate reports (JSON) written for VERSION under the state dir, oldest first."""
    from cxops.config import load_config
    from cxops.paths import state_dir

    return sorted((state_dir(load_config()) / "reports").glob(f"*-v{version}-*.json"), key=lambda p: p.stat().st_mtime)


def show_evidence(version: str) -> None:
    """Print each gate's verdict and checks for VERSION (evaluation from its run, staging and canary from their
    reports) and show the plots beside them (confusion matrix, latency, canary class shares)."""
    from cxops.config import load_config
    from cxops.registry.client import Registry

    registry = Registry(load_config())
    info = registry.version(version)
    with tempfile.TemporaryDirectory() as tmp:
        if info.run_id:
            with registry.errors(f"reading the evaluation of run {info.run_id}"):
                local = Path(registry.client.download_artifacts(info.run_id, "evaluation", tmp))
            _print_report("evaluation", json.loads((local / "report.json").read_text()))
            for png in sorted(local.glob("*.png")):
                show_image(png)
        for path in gate_reports(version):
            _print_report(path.stem.split("-v")[0], json.loads(path.read_text()))
            for png in sorted(path.parent.glob(f"{path.stem}*.png")):
                show_image(png)


def _print_report(gate: str, report: dict[str, Any]) -> None:
    outcome = report.get("outcome") or ("passed" if report.get("passed") else "failed")
    print(f"\n== {gate}: {outcome}")
    for reason in report.get("reasons", []):
        print(f"   - {reason}")
    for name, value in (report.get("metrics") or {}).items():
        print(f"   {name}: {value}")
    checks = report.get("checks") or {}
    if isinstance(checks, dict):  # staging: check name -> ok
        print("   " + ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in checks.items()))
    else:  # evaluation and canary: the gate's Check records (cxops.gates.verdict.Check.as_dict)
        for c in checks:
            bound = "<=" if c.get("kind") == "max" else ">="
            verdict = "ok" if c.get("ok") else f"FAILED ({c.get('reason')})"
            print(f"   {c.get('name')}: {c.get('value')} (limit {bound} {c.get('limit')}) {verdict}")


def show_image(path: Path) -> None:
    """Display a PNG inline in a notebook (IPython), else print its path."""
    try:
        from IPython.display import Image, display
    except ImportError:
        print(f"plot: {path}")
        return
    display(Image(filename=str(path)))


def run_costs(plot: bool = False) -> list[dict[str, Any]]:
    """Every training run of the configured experiment: run id, flavor, duration (s) and cost (from the `train_cost`
    metric, priced by `costs:` in cxops.yaml), newest first; printed as a table (and a bar chart with `plot`) and
    returned."""
    from cxops.config import load_config
    from cxops.registry.client import Registry

    cfg = load_config()
    registry = Registry(cfg)
    with registry.errors("reading the training runs"):
        experiment = registry.client.get_experiment_by_name(cfg.model.experiment)
        runs = [] if experiment is None else registry.client.search_runs([experiment.experiment_id])
    rows = [
        {
            "run_id": r.info.run_id,
            "flavor": r.data.tags.get("cxops.flavor", ""),
            "seconds": round(r.data.metrics.get("train_duration_seconds", 0.0), 2),
            "cost": r.data.metrics.get("train_cost", 0.0),
        }
        for r in runs
        if "train_cost" in r.data.metrics
    ]
    print(f"{'run':34} {'flavor':12} {'seconds':>8} {'cost (' + cfg.costs.currency + ')':>14}")
    for row in rows:
        print(f"{row['run_id']:34} {row['flavor']:12} {row['seconds']:>8} {row['cost']:>14.6f}")
    print(f"total: {sum(r['cost'] for r in rows):.6f} {cfg.costs.currency} over {len(rows)} run(s)")
    if plot and rows:
        from cxops.gates.plots import costs_png

        with tempfile.TemporaryDirectory() as tmp:
            oldest_first = list(reversed(rows))
            show_image(
                costs_png(
                    [r["run_id"][:8] for r in oldest_first],
                    [r["cost"] for r in oldest_first],
                    cfg.costs.currency,
                    Path(tmp) / "costs.png",
                )
            )
    return rows


def config_variant(name: str, **sections: dict[str, Any]) -> Path:
    """Write NAME (a cxops.yaml beside the current one, marked generated) with SECTIONS merged over the current
    configuration, validate it, and return its path: for `run("-c NAME …")` without editing any file by hand.
    Raises ConfigError when the result is invalid."""
    import yaml

    from cxops import generated
    from cxops.config import config_path, load_config

    base = config_path()
    doc = yaml.safe_load(base.read_text())
    for key, value in sections.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    path = (base.parent / name).resolve()
    generated.write_atomic(path, generated.header(f"cxops.notebook.config_variant({name!r})") + yaml.safe_dump(doc))
    load_config(path)
    return path
