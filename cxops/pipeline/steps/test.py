"""test ENV: integration (health, ready, /version = git, golden predictions) and load (p95, error rate)."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import httpx

from cxops.builds import build_dir
from cxops.config import Config
from cxops.errors import CxopsError
from cxops.gates.load import run_load
from cxops.gates.plots import latency_png
from cxops.gates.reports import save_report
from cxops.gates.verdict import FAILED, PASSED, Check
from cxops.gitops.state import desired, gitops_repo
from cxops.http_client import client
from cxops.paths import state_dir
from cxops.pipeline.results import GateResult
from cxops.pipeline.steps import build
from cxops.pipeline.steps._args import check_env
from cxops.registry.client import Registry
from cxops.release.live import env_url


def _get(url: str) -> tuple[int, dict]:
    try:
        r = client().get(url, timeout=5)
        return r.status_code, r.json()
    except (httpx.HTTPError, ValueError) as exc:
        return 0, {"error": f"{type(exc).__name__}: {exc}"}


def run(cfg: Config, env: str) -> GateResult:
    check_env(env)
    registry = Registry(cfg)
    state = desired(cfg, gitops_repo(cfg), env)
    want = state.version
    if want is None:
        raise CxopsError(f"nothing is deployed to {env} in git; run `cxops step deploy {env} VERSION` first")
    if state.name not in (None, cfg.model.name):
        raise CxopsError(
            f"git's {env} serves model {state.name}, not {cfg.model.name} (model.name in cxops.yaml); "
            f"deploy {cfg.model.name} to {env} first"
        )
    url = env_url(cfg, env)
    limits = cfg.gates.staging
    checks: dict[str, bool] = {}
    reasons: list[str] = []

    def check(name: str, ok: bool, why: str) -> None:
        checks[name] = ok
        if not ok:
            reasons.append(why)

    status, _ = _get(f"{url}/healthz")
    check("healthz", status == 200, f"{url}/healthz answered {status or 'nothing'}")
    status, body = _get(f"{url}/readyz")
    why = f": {body['reason']}" if body.get("reason") else ""
    check("readyz", status == 200, f"{url}/readyz answered {status or 'nothing'}{why}")
    _, body = _get(f"{url}/version")
    same_build = state.digest is None or body.get("model_digest") == state.digest
    check(
        "version",
        str(body.get("version")) == want and body.get("name") == cfg.model.name and same_build,
        f"/version says {body.get('name')} v{body.get('version')} ({body.get('model_digest')}), git says "
        f"{cfg.model.name} v{want} ({state.digest or 'no digest'})",
    )

    golden_file = build_dir(state_dir(cfg), cfg.model.name, want) / "context" / "golden.json"
    if not golden_file.exists():  # e.g. in a pod other than the build's: rebuild it (same version, same content)
        build.run(cfg, want)
    golden = json.loads(golden_file.read_text())
    try:
        r = client().post(f"{url}/predict", json={"inputs": golden["inputs"]}, timeout=10)
        got = r.json().get("predictions") if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        got = None
    mismatches = None if got is None else sum(a != b for a, b in zip(got, golden["predictions"], strict=True))
    n_golden = len(golden["inputs"])
    answer = "no answer" if got is None else f"{mismatches} of {n_golden} differ"
    check("golden", mismatches == 0, f"golden predictions: {answer}")

    rng = random.Random(0)
    rows = golden["inputs"]
    bodies = [(f"{url}/predict", json.dumps({"inputs": [rng.choice(rows)]}).encode()) for _ in range(limits.requests)]
    stats = run_load(bodies, limits.concurrency)
    load = stats.summary()
    # finite-and-within, not "above the limit": a NaN p95 (no latency measured) must not pass
    for name, c in (
        ("load_p95", Check("load p95 (ms)", load["p95_ms"], limits.max_p95_ms, "max", ".1f")),
        ("load_errors", Check("load error rate", stats.error_rate, limits.max_error_rate, "max", ".3%")),
    ):
        check(name, c.ok, c.reason())

    outcome = PASSED if not reasons else FAILED
    gate = "staging" if env == "staging" else f"test-{env}"
    report = {
        "gate": gate,
        "env": env,
        "version": want,
        "passed": outcome == PASSED,
        "outcome": outcome,
        "reasons": reasons,
        "checks": checks,
        "load": load,
        "limits": limits.model_dump(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        png = latency_png(
            stats.latencies_ms,
            limits.max_p95_ms,
            f"{env} v{want}: {limits.requests} requests at concurrency {limits.concurrency}",
            Path(tmp) / f"{gate}-v{want}-latency.png",
        )
        path = save_report(cfg, registry, gate, want, report, [png])
    return GateResult(
        gate=gate, outcome=outcome, reasons=reasons, metrics={k: float(v) for k, v in load.items()}, report=str(path)
    )  # NaN → null in outputs
