"""Gate reports: JSON on disk under .cxops/reports/, logged to the version's MLflow run, verdict as a version tag."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from cxops.config import Config
from cxops.gates.verdict import json_safe
from cxops.paths import state_dir
from cxops.registry.client import Registry


def gate_tag(gate: str) -> str:
    return f"cxops.gate.{gate}"


def save_report(
    cfg: Config,
    registry: Registry,
    gate: str,
    version: str,
    report: dict,
    extra_files: tuple[Path, ...] | list[Path] = (),
) -> Path:
    """Write the report (plots beside it); log both to the version's run; tag the version with the verdict.

    The verdict tag is the report's `outcome` (passed, failed or inconclusive). A non-finite number is written as
    null and named under `non_finite` ({key path: "NaN" | "Infinity"}): JSON has no NaN.
    """
    nulls: dict[str, str] = {}
    report = json_safe(report, nulls=nulls)
    if nulls:
        report["non_finite"] = nulls
    outcome = report.get("outcome") or ("passed" if report["passed"] else "failed")
    out_dir = state_dir(cfg) / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"{gate}-v{version}-{stamp}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str, allow_nan=False))
    tmp.replace(path)
    for i, f in enumerate(extra_files):  # keep a copy of each plot next to its report, named after it
        shutil.copyfile(f, out_dir / f"{path.stem}{f'-{i}' if i else ''}{f.suffix}")
    info = registry.version(version)
    with registry.errors(f"logging the {gate} report"):
        if info.run_id:
            registry.client.log_dict(info.run_id, report, f"gates/{gate}-v{version}.json")
            for f in extra_files:
                registry.client.log_artifact(info.run_id, str(f), "gates")
    registry.set_version_tag(version, gate_tag(gate), outcome)
    return path
