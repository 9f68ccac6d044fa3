"""Bring your own model (issue 12), on real labs (MLflow server, git remote, one model server per environment):

- the whole lifecycle (train → production, then a second version promoted or stopped at a gate) for three model
  projects: digits (linear fast path), a scikit-learn pipeline with preprocessing (pyfunc path) and a PyTorch CNN
  (PyTorch flavor through pyfunc);
- the protocols on each production server: the same rows through /predict, /invocations (all four payload forms)
  and v2 infer give the same prediction; MLflow's own scoring client and a KServe-style v2 body work as their
  users send them; malformed bodies of each protocol get a 4xx, never a 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from helpers import cli, make_project

pytestmark = pytest.mark.integration

# Small windows keep three lifecycles in minutes; latencies on a loaded 2-core machine are noise at this size, so the
# p95 limits are loose here: staging's absolute one (the wine pipeline's load p95 reached 246 ms against 200 under
# `make test`'s four workers, 2026-12-06) and the canary's ratio; the behaviour checks
# (distribution/confidence/agreement) stay as set. How a limit judges a value: tests/unit/test_gate_properties.py.
SMALL_GATES = {
    "staging": {"requests": 40, "concurrency": 4, "golden_samples": 10, "max_p95_ms": 1000},
    "canary": {"window_seconds": 2, "requests": 60, "concurrency": 4, "max_p95_ratio": 50},
}
# name → (model section, second version's params, whether the second version must reach production)
PROJECTS: dict[str, tuple[dict[str, Any], dict[str, Any], bool]] = {
    "digits": ({}, {"C": 0.5, "max_iter": 2000}, True),
    "sklearn-pipeline": (
        {
            "name": "wine-pipeline",
            "project": "cxops.model.examples.sklearn_pipeline:WinePipeline",
            "dataset": {"name": "wine", "test_size": 0.3, "seed": 1},
            "params": {"hidden": 16},
        },
        {"hidden": 24},
        True,
    ),
    # the second CNN is trained for one epoch at a tiny learning rate: the evaluation gate must stop it
    "pytorch-cnn": (
        {"name": "digits-cnn", "project": "cxops.model.examples.torch_cnn:TorchDigitsCNN", "params": {"epochs": 6}},
        {"epochs": 1, "lr": 0.0001},
        False,
    ),
}
SCORERS = {
    "digits": ("linear", "sklearn"),
    "sklearn-pipeline": ("pyfunc", "sklearn"),
    "pytorch-cnn": ("pyfunc", "pytorch"),
}


def run_pipeline(config: Path) -> dict[str, Any]:
    res = cli(config, "pipeline", "run", "--json", timeout=900)
    assert res.stdout, res.stderr
    summary = json.loads(res.stdout)
    print("\n".join(summary["steps"]))
    assert (res.returncode == 0) == summary["succeeded"], res.stderr
    return summary


@pytest.fixture(scope="module", params=list(PROJECTS))
def released(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A lab per project; the pipeline run twice (the second time with other params). Yields what happened."""
    name = request.param
    model, second_params, _ = PROJECTS[name]
    overrides: dict[str, Any] = {"gates": SMALL_GATES, "lab": {"ready_timeout_seconds": 180}}
    if model:
        overrides["model"] = model
    config = make_project(tmp_path_factory.mktemp(f"byom-{name}"), overrides)
    if model:  # params are the project's own: replace the base config's, do not merge into them
        doc = yaml.safe_load(config.read_text())
        doc["model"]["params"] = model["params"]
        config.write_text(yaml.safe_dump(doc, sort_keys=False))
    up = cli(config, "lab", "up", timeout=300)
    try:
        assert up.returncode == 0, f"cxops lab up failed: {up.stderr}{up.stdout}"
        first = run_pipeline(config)
        doc = yaml.safe_load(config.read_text())
        doc["model"]["params"] = second_params
        config.write_text(yaml.safe_dump(doc, sort_keys=False))
        second = run_pipeline(config)
        from cxops.config import load_config

        yield {"name": name, "config": config, "cfg": load_config(config), "first": first, "second": second}
    finally:
        cli(config, "lab", "down", timeout=120)


def status(config: Path) -> dict[str, dict]:
    res = cli(config, "status", "--json")
    assert res.returncode == 0, res.stderr
    return {row["env"]: row for row in json.loads(res.stdout)}


def production_url(released: dict) -> str:
    from cxops.release.live import env_url

    return env_url(released["cfg"], "production")


def golden(released: dict) -> dict:
    version = status(released["config"])["production"]["live"]
    state = released["config"].parent / released["cfg"].lab.state_dir
    return json.loads((state / "builds" / released["cfg"].model.name / version / "context" / "golden.json").read_text())


def test_lifecycle_first_version_reaches_production(released: dict):
    first = released["first"]
    assert first["succeeded"], first["reason"]
    assert first["version"] == "1"
    scorer, flavor = SCORERS[released["name"]]
    v = httpx.get(f"{production_url(released)}/version").json()
    assert (v["scorer"], v["flavor"]) == (scorer, flavor), v


def test_lifecycle_second_version_promoted_or_stopped(released: dict):
    second, must_promote = released["second"], PROJECTS[released["name"]][2]
    rows = status(released["config"])
    if must_promote:
        assert second["succeeded"], second["reason"]
        assert rows["production"]["alias"] == rows["production"]["git"] == rows["production"]["live"] == "2"
        assert rows["production"]["previous"] == "1"
    else:
        assert not second["succeeded"] and second["stopped_at"] == "evaluate", second
        assert "accuracy" in second["reason"]
        assert rows["production"]["alias"] == rows["production"]["git"] == rows["production"]["live"] == "1"
    assert cli(released["config"], "status", "--check").returncode == 0


def _columns(released: dict) -> list[str]:
    meta = httpx.get(f"{production_url(released)}/v2/models/{released['cfg'].model.name}").json()
    return [i["name"] for i in meta["inputs"]]


def _forms(released: dict, X: np.ndarray) -> dict[str, tuple[str, dict]]:
    """The same rows in every form each protocol takes."""
    rows = X.tolist()
    flat = X.reshape(len(X), -1).tolist()
    meta = httpx.get(f"{production_url(released)}/v2/models/{released['cfg'].model.name}").json()
    names = [i["name"] for i in meta["inputs"]]
    tabular = len(names) > 1
    cols = names if tabular else [f"c{i}" for i in range(len(flat[0]))]
    v2_inputs = (
        [{"name": n, "shape": [len(X)], "datatype": "FP64", "data": X[:, j].tolist()} for j, n in enumerate(names)]
        if tabular
        else [{"name": names[0], "shape": list(X.shape), "datatype": "FP32", "data": X.ravel().tolist()}]
    )
    infer = f"/v2/models/{released['cfg'].model.name}/infer"
    return {
        "predict": ("/predict", {"inputs": rows}),
        "inputs": ("/invocations", {"inputs": rows}),
        "instances": ("/invocations", {"instances": rows}),
        "dataframe_split": ("/invocations", {"dataframe_split": {"columns": cols, "data": flat}}),
        "dataframe_records": ("/invocations", {"dataframe_records": [dict(zip(cols, r, strict=True)) for r in flat]}),
        "v2": (infer, {"inputs": v2_inputs}),
    }


def test_same_prediction_through_every_protocol(released: dict):
    g = golden(released)
    X = np.asarray(g["inputs"][:5])
    url = production_url(released)
    answers = {}
    for form, (route, body) in _forms(released, X).items():
        r = httpx.post(f"{url}{route}", json=body, timeout=30)
        assert r.status_code == 200, (form, r.text)
        answers[form] = r.json()
    expected = g["predictions"][:5]
    assert answers["predict"]["predictions"] == expected
    for form in ("inputs", "instances", "dataframe_split", "dataframe_records"):
        proba = np.asarray(answers[form]["predictions"])
        assert proba.argmax(axis=1).tolist() == expected, form
        np.testing.assert_allclose(proba, np.asarray(g["probabilities"][:5]), atol=1e-5)
    outputs = {o["name"]: o for o in answers["v2"]["outputs"]}
    assert outputs["predictions"]["data"] == expected
    assert outputs["probabilities"]["shape"] == [5, len(g["probabilities"][0])]


def test_mlflow_scoring_client_works_unchanged(released: dict):
    import pandas as pd
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    g = golden(released)
    url = httpx.URL(production_url(released))
    client = ScoringServerClient(url.host, url.port)
    client.wait_server_ready(timeout=30)
    X = np.asarray(g["inputs"][:3])
    names = _columns(released)
    data = pd.DataFrame(X, columns=names) if len(names) > 1 else X.astype(np.float32)
    got = client.invoke(data).get_predictions()
    proba = np.asarray(got.to_numpy() if hasattr(got, "to_numpy") else got)
    assert proba.argmax(axis=1).tolist() == g["predictions"][:3]


def test_kserve_v2_request_as_users_send_it(released: dict):
    url, name = production_url(released), released["cfg"].model.name
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/health/ready").status_code == 200
    assert httpx.get(f"{url}/v2/models/{name}/ready").json()["ready"] is True
    meta = httpx.get(f"{url}/v2/models/{name}").json()
    g = golden(released)
    X = np.asarray(g["inputs"][:2])
    if len(meta["inputs"]) == 1:
        spec = meta["inputs"][0]
        body = {
            "id": "req-1",
            "inputs": [
                {
                    "name": spec["name"],
                    "shape": [2, *spec["shape"][1:]],
                    "datatype": spec["datatype"],
                    "data": X.tolist(),
                }
            ],
        }  # nested data
    else:
        body = {
            "id": "req-1",
            "inputs": [
                {"name": s["name"], "shape": [2, 1], "datatype": s["datatype"], "data": X[:, j].tolist()}
                for j, s in enumerate(meta["inputs"])
            ],
        }
    body["outputs"] = [{"name": "predictions"}]
    r = httpx.post(f"{url}/v2/models/{name}/versions/{meta['versions'][0]}/infer", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == "req-1" and out["model_name"] == name
    assert [o["name"] for o in out["outputs"]] == ["predictions"]
    assert out["outputs"][0]["data"] == g["predictions"][:2]


def test_malformed_bodies_get_4xx_never_5xx(released: dict):
    url, name = production_url(released), released["cfg"].model.name
    g = golden(released)
    row = g["inputs"][0]
    names = _columns(released)
    infer = f"/v2/models/{name}/infer"
    bad: list[tuple[str, Any, str]] = [
        ("/predict", b"{not json", "invalid JSON"),
        ("/predict", {"inputs": [row, "x"]}, "inputs[1]"),
        ("/predict", {"inputs": [[1.0, 2.0]]}, "inputs[0]"),
        ("/invocations", b"[1, 2", "invalid JSON"),
        ("/invocations", {"inputs": [row], "instances": [row]}, "exactly one of"),
        ("/invocations", {"dataframe_split": {"columns": ["nope"], "data": [[1.0]]}}, "dataframe_split"),
        ("/invocations", {"dataframe_records": [{"nope": "x"}]}, "dataframe_records[0]"),
        ("/invocations", {"instances": []}, "non-empty"),
        ("/invocations", {"inputs": [row], "params": {"k": 1}}, "params"),
        (infer, b"", "invalid JSON"),
        (infer, {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}, "datatype"),
        (infer, {"inputs": [{"name": names[0], "shape": [1, 3], "datatype": "FP32", "data": [1.0]}]}, "shape"),
        (infer, {"inputs": [{"shape": [1], "datatype": "FP32", "data": [1.0]}]}, "inputs[0].name"),
        (infer, {"inputs": "x"}, "inputs"),
        ("/v2/models/not-this-model/infer", {"inputs": []}, "not served here"),
    ]
    if len(names) > 1:  # a DataFrame signature: a wrong value is named by its column
        bad.append(
            (
                "/invocations",
                {"dataframe_records": [{**dict(zip(names, row, strict=True)), names[2]: "x"}]},
                f"dataframe_records[0].{names[2]}",
            )
        )
    for route, body, needle in bad:
        if isinstance(body, bytes):
            r = httpx.post(f"{url}{route}", content=body, headers={"content-type": "application/json"})
        else:
            r = httpx.post(f"{url}{route}", json=body)
        assert 400 <= r.status_code < 500, (route, body, r.status_code, r.text)
        assert needle in r.text, (route, needle, r.text)
    assert (
        httpx.post(f"{url}/invocations", content=b"a,b\n1,2", headers={"content-type": "text/csv"}).status_code == 415
    )


def test_metrics_are_labelled_by_route(released: dict):
    text = httpx.get(f"{production_url(released)}/metrics").text
    for route in ("/predict", "/invocations", "/v2/models/{name}/infer"):
        assert f'route="{route}"' in text, route
