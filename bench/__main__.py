"""Run every benchmark in a throwaway project with its own lab, and print each against its peer."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import cli_startup, serving

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import base_config, cli, free_port, make_project  # noqa: E402

console = Console(width=250)


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
            "gates": {"canary": base_config()["gates"]["canary"]},  # the evidence cxops.yaml asks for
            "lab": {"ready_timeout_seconds": 180},
            **({"model": model} if model else {}),
        },
    )
    if params is not None:  # the project's own params replace digits'
        doc = yaml.safe_load(config.read_text())
        doc["model"]["params"] = params
        config.write_text(yaml.safe_dump(doc, sort_keys=False))
    return config


# Goals (issues 12 and 17): our throughput as a multiple of MLflow's per model, and for digits at concurrency 16 a
# share of the floor's throughput and a bound on p99 as a multiple of the floor's.
MLFLOW_MULTIPLE = {"digits": 3.0, "sklearn-pipeline": 1.5, "pytorch-cnn": 1.5}
FLOOR_SHARE, FLOOR_P99 = 0.5, 2.0
BATCH_GAIN = 3.0  # issue 30: pyfunc models at concurrency 16 and 64, batched against unbatched requests/s


def cell(r) -> str:
    return f"{r.rps:,.0f} · {r.p50_ms:.2f}/{r.p99_ms:.2f}"


def lifecycle(config: Path, label: str) -> tuple[str, float | None, float]:
    """Run the pipeline (digits: all the way to production; the others until build); (version, registered →
    production seconds or None, wall seconds)."""
    started = time.perf_counter()
    argv = ["pipeline", "run", "--json"] + ([] if label == "digits" else ["--until", "build"])
    res = cli(config, *argv, timeout=900)
    wall = time.perf_counter() - started
    if res.returncode != 0:
        raise SystemExit(
            f"{label}: cxops pipeline run failed (rc={res.returncode}): {res.stderr[-800:]}{res.stdout[-800:]}"
        )
    summary = json.loads(res.stdout)
    return summary["version"], summary["registered_to_production_seconds"], wall


def main() -> None:
    # BENCH_PARTS=serving skips the CLI start-up comparison (minutes on a busy machine: MLflow's CLI is slow to load)
    if "cli" in os.environ.get("BENCH_PARTS", "cli,serving").split(","):
        show("CLI start-up (median of 7)", ["command", "time"], cli_startup.run())
    figures: dict[str, tuple[str, dict[str, serving.Served]]] = {}
    if "serving" not in os.environ.get("BENCH_PARTS", "cli,serving").split(","):
        return
    labels = os.environ.get("BENCH_MODELS", ",".join(MODELS)).split(",")
    if unknown := [label for label in labels if label not in MODELS]:
        raise SystemExit(f"BENCH_MODELS: {unknown[0]!r} is not a bench model; choose from {', '.join(MODELS)}")
    with tempfile.TemporaryDirectory(prefix="cxops-bench-") as tmp:
        for label in labels:
            config = project(Path(tmp), label)
            os.environ["CXOPS_CONFIG"] = str(config)
            try:
                up = cli(config, "lab", "up", timeout=240)
                if up.returncode != 0:
                    raise SystemExit(f"cxops lab up failed: {up.stderr[-800:]}")
                version, r2p, wall = lifecycle(config, label)
                if label == "digits":
                    show(
                        f"Lifecycle (embedded lab, one machine, canary window "
                        f"{base_config()['gates']['canary']['window_seconds']} s as in cxops.yaml)",
                        ["measure", "value"],
                        [
                            ["train → production, wall clock", f"{wall:.1f} s"],
                            ["registered → production", f"{r2p:.1f} s" if r2p else "-"],
                        ],
                    )
                from cxops.config import load_config
                from cxops.registry.mlflow_server import MlflowLab

                cfg = load_config(config)
                build_dir = config.parent / ".cxops" / "builds" / cfg.model.name / version / "context"
                ports: set[int] = set()
                while len(ports) < 11:
                    ports.add(free_port())
                figures[label] = serving.run(
                    build_dir,
                    f"models:/{cfg.model.name}/{version}",
                    MlflowLab.from_config(cfg).url,
                    sorted(ports),
                    batched=label != "digits",
                    tmp=Path(tmp) / f"{label}-servers",
                )
            finally:
                cli(config, "lab", "down", timeout=120)
    report(figures)


def report(figures: dict[str, tuple[str, dict[str, serving.Served]]]) -> None:
    """The side-by-side tables, the goals, and the figures as JSON in .cxops/bench/serving.json (written first)."""
    out = ROOT / ".cxops" / "bench" / "serving.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                label: {
                    "scorer": scorer,
                    **{
                        name: {
                            "startup_s": round(sv.startup_s, 3),
                            "rss_mb": round(sv.rss_mb, 1),
                            "levels": {str(c): asdict(r) for c, r in sv.results.items()},
                        }
                        for name, sv in s.items()
                    },
                }
                for label, (scorer, s) in figures.items()
            },
            indent=2,
        )
    )
    rows, goals, startup = [], [], []
    names = list(serving.SERVERS)
    for label, (scorer, s) in figures.items():
        best = "cxops-batched" if "cxops-batched" in s else "cxops"
        for c in serving.CONCURRENCIES:
            r = {k: v.results[c] for k, v in s.items()}
            f, o, m = r["floor"], r[best], r["mlflow"]
            rows.append(
                [
                    f"{label} ({scorer})",
                    str(c),
                    *(cell(r[k]) if k in r else "-" for k in names),
                    f"{o.rps / f.rps:.0%}",
                    f"{o.rps / r['cxops'].rps:.1f}x",
                    f"{o.rps / m.rps:.1f}x",
                    f"{o.rps / r['mlserver-batched'].rps:.1f}x",
                ]
            )
        want = MLFLOW_MULTIPLE[label]
        worst = min(s[best].results[c].rps / s["mlflow"].results[c].rps for c in serving.CONCURRENCIES)
        p99_lower = all(s[best].results[c].p99_ms < s["mlflow"].results[c].p99_ms for c in serving.CONCURRENCIES)
        goals.append([f"{label}: throughput ≥ {want:g}x MLflow at 1/16/64", f"lowest {worst:.1f}x", ok(worst >= want)])
        goals.append([f"{label}: p99 below MLflow's at 1/16/64", "", ok(p99_lower)])
        ahead = all(s[best].results[c].rps > s["mlserver-batched"].results[c].rps for c in serving.CONCURRENCIES)
        goals.append([f"{label}: ahead of MLServer with batching at 1/16/64", "", ok(ahead)])
        if best == "cxops-batched":
            for c in (16, 64):
                on, off = s[best].results[c], s["cxops"].results[c]
                x = on.rps / off.rps
                goals.append(
                    [f"{label}, c={c}: batched ≥ {BATCH_GAIN:g}x unbatched req/s", f"{x:.1f}x", ok(x >= BATCH_GAIN)]
                )
                goals.append(
                    [
                        f"{label}, c={c}: batched p99 no worse than unbatched",
                        f"{on.p99_ms:.1f} vs {off.p99_ms:.1f} ms",
                        ok(on.p99_ms <= off.p99_ms),
                    ]
                )
            on, off = s[best].results[1], s["cxops"].results[1]
            goals.append(
                [
                    f"{label}, c=1: batched vs unbatched (same within the run's noise)",
                    f"{on.rps / off.rps:.0%} of req/s, p99 {on.p99_ms:.2f} vs {off.p99_ms:.2f} ms",
                    "",
                ]
            )
        if label == "digits":
            f16, o16 = s["floor"].results[16], s["cxops"].results[16]
            share, p99x = o16.rps / f16.rps, o16.p99_ms / f16.p99_ms
            goals.append(
                [f"digits, c=16: ≥ {FLOOR_SHARE:.0%} of the floor's req/s", f"{share:.0%}", ok(share >= FLOOR_SHARE)]
            )
            goals.append([f"digits, c=16: p99 ≤ {FLOOR_P99:g}x the floor's", f"{p99x:.2f}x", ok(p99x <= FLOOR_P99)])
        startup.append([label, *(f"{s[k].startup_s:.2f} s · {s[k].rss_mb:.0f} MB" if k in s else "-" for k in names)])
    show(
        f"Serving: one process each, wrk 1 thread, {serving.SECONDS:g} s per level in {serving.ROUNDS} alternating "
        f"rounds (medians), the same single row ({serving.ROUTE}; MLServer: v2 infer) — requests/s · p50/p99 ms",
        [
            "model (our scorer)",
            "conc.",
            *serving.SERVERS.values(),
            "cxops/floor",
            "batched/unbatched",
            "cxops/mlflow",
            "cxops/MLServer batched",
        ],
        rows,
    )
    show("Goals (cxops: batched for pyfunc models, unbatched for linear)", ["goal", "measured", ""], goals)
    show(
        "Server start-up (process start → ready) · resident memory after the load",
        ["model", *serving.SERVERS.values()],
        startup,
    )
    console.print(f"figures as JSON: {out}")


def ok(met: bool) -> str:
    return "[green]met[/green]" if met else "[red]NOT met[/red]"


if __name__ == "__main__":
    main()
