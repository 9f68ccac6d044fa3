"""Run every benchmark in a throwaway project with its own lab, and print each against its peer."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import cli_startup, serving

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import cli, free_port, make_project  # noqa: E402

console = Console(width=150)


def show(title: str, columns: list[str], rows: list[list[str]]) -> None:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*r)
    console.print(t)


# The three model projects of tests/integration/test_models.py: label → (model section, params).
MODELS = {
    "digits": ({}, None),
    "sklearn-pipeline": (
        {
            "name": "wine-pipeline",
            "project": "cxops.model.examples.sklearn_pipeline:WinePipeline",
            "dataset": {"name": "wine", "test_size": 0.3, "seed": 1},
        },
        {"hidden": 16},
    ),
    "pytorch-cnn": ({"name": "digits-cnn", "project": "cxops.model.examples.torch_cnn:TorchDigitsCNN"}, {"epochs": 6}),
}


def project(root: Path, label: str) -> Path:
    import yaml

    model, params = MODELS[label]
    config = make_project(
        root / label,
        {
            "gates": {"canary": {"window_seconds": 5, "requests": 400}},
            "lab": {"ready_timeout_seconds": 180},
            **({"model": model} if model else {}),
        },
    )
    if params is not None:  # the project's own params replace digits'
        doc = yaml.safe_load(config.read_text())
        doc["model"]["params"] = params
        config.write_text(yaml.safe_dump(doc, sort_keys=False))
    return config


def main() -> None:
    show("CLI start-up (median of 7)", ["command", "time"], cli_startup.run())
    throughput: list[list[str]] = []
    startup: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="cxops-bench-") as tmp:
        for label in MODELS:
            config = project(Path(tmp), label)
            os.environ["CXOPS_CONFIG"] = str(config)
            try:
                up = cli(config, "lab", "up", timeout=240)
                assert up.returncode == 0, up.stderr
                started = time.perf_counter()
                res = cli(config, "pipeline", "run", "--json", timeout=900)
                wall = time.perf_counter() - started
                assert res.returncode == 0, res.stderr + res.stdout
                summary = json.loads(res.stdout)
                if label == "digits":
                    show(
                        "Lifecycle (embedded, one machine)",
                        ["measure", "value"],
                        [
                            ["train → production, wall clock", f"{wall:.1f} s"],
                            ["registered → production", f"{summary['registered_to_production_seconds']:.1f} s"],
                            ["reference: ArgoCD git poll alone (default)", "180 s"],
                        ],
                    )

                from cxops.config import load_config
                from cxops.lab.mlflow_server import MlflowLab

                cfg = load_config(config)
                version = summary["version"]
                build_dir = config.parent / ".cxops" / "builds" / version / "context"
                rows, start = serving.run(
                    label,
                    build_dir,
                    f"models:/{cfg.model.name}/{version}",
                    MlflowLab.from_config(cfg).url,
                    (free_port(), free_port()),
                )
                throughput += rows
                startup.append(start)
            finally:
                cli(config, "lab", "down", timeout=120)
    show(
        f"Serving: cxops vs mlflow models serve, same /invocations bodies, {serving.REQUESTS} single-row requests "
        "per level",
        [
            "model (cxops path)",
            "concurrency",
            "cxops rps",
            "mlflow rps",
            "throughput",
            "cxops p50/p99 ms",
            "mlflow p50/p99 ms",
            "p99 better by",
        ],
        throughput,
    )
    show(
        "Server start-up (process start → model loaded and ready)",
        ["model", "cxops", "mlflow models serve", "faster by"],
        startup,
    )


if __name__ == "__main__":
    main()
