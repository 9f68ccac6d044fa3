"""Adaptive batching (cxops.serving.batching) on a real server: real concurrent HTTP clients through every protocol,
a real MLflow model (tests/fixtures/batch_model/probe_model.py, saved with MLflow's models-from-code) that records
each call's rows, so the tests see which requests shared a model call."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers import free_port, serving_process

pytestmark = pytest.mark.integration

MODEL_CODE = Path(__file__).parents[1] / "fixtures" / "batch_model" / "probe_model.py"
CLIENTS = 16


def build(root: Path, log: Path) -> Path:
    """A build directory as the build step lays it out (model/, version.json, manifest.json) holding the probe
    model, saved by MLflow with a tensor signature of 3 float64 columns and 2 classes."""
    import mlflow
    from mlflow.models import infer_signature

    from cxops.serving.manifest import write_manifest

    example = np.array([[0.5, 0.0, 0.0]])
    mlflow.pyfunc.save_model(
        str(root / "model"),
        python_model=str(MODEL_CODE),
        model_config={"log": str(log)},
        signature=infer_signature(example, np.array([[0.5, 0.5]])),
        input_example=example,
    )
    (root / "version.json").write_text(json.dumps({"name": "probe", "version": "1"}))
    write_manifest(root)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("batching")
    log = root / "calls.jsonl"
    return build(root / "build", log), log


def serve(build_dir: Path, log: Path, batching: str) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "cxops.serving", "--model-dir", str(build_dir), "--port", str(port)]
    argv += ["--batching", batching, "--batch-max-size", "64", "--batch-max-wait-ms", "5"]
    with serving_process(argv, f"{url}/readyz", timeout=120):
        log.write_text("")  # the load-time checks' calls are not the tests'
        yield url


@pytest.fixture(scope="module")
def batched_server(built: tuple[Path, Path]) -> Iterator[str]:
    yield from serve(*built, "on")


@pytest.fixture
def batched(batched_server: str, built: tuple[Path, Path]) -> str:
    """The batched server, its call log emptied for this test."""
    built[1].write_text("")
    return batched_server


def calls(log: Path) -> list[list[float]]:
    """The x of every row of every model call since the server was ready, one list per call."""
    return [json.loads(line)["x"] for line in log.read_text().splitlines() if line]


def threads(log: Path) -> list[str]:
    """The thread that made each model call since the server was ready (probe_model.py)."""
    return [json.loads(line)["thread"] for line in log.read_text().splitlines() if line]


# A request: (protocol, the rows' x values); its body in that protocol, and the x it was answered with.
def body(protocol: str, xs: list[float], poison: bool = False) -> tuple[str, dict[str, Any]]:
    rows = [[x, 1.0 if poison else 0.0, 0.0] for x in xs]
    if protocol == "invocations":
        return "/invocations", {"inputs": rows}
    if protocol == "predict":
        return "/predict", {"inputs": rows}
    return "/v2/models/probe/infer", {
        "inputs": [
            {"name": "input-0", "shape": [len(rows), 3], "datatype": "FP64", "data": [v for row in rows for v in row]}
        ]
    }


def answered_x(protocol: str, doc: dict[str, Any]) -> list[float]:
    """The x each row of an answer was scored from: class 1's probability (probe_model.py)."""
    if protocol == "invocations":
        return [p[1] for p in doc["predictions"]]
    if protocol == "predict":  # x > 0.5 is sent to /predict: class 1 wins, and its probability is x
        assert set(doc["predictions"]) == {1}
        return doc["confidence"]
    probabilities = next(o for o in doc["outputs"] if o["name"] == "probabilities")["data"]
    return probabilities[1::2]


def send(url: str, requests: list[tuple[str, list[float], bool]]) -> list[httpx.Response]:
    """Every request at once over CLIENTS concurrent connections (a thread and an HTTP client each)."""
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(CLIENTS)]

    def one(i: int) -> httpx.Response:
        protocol, xs, poison = requests[i]
        path, doc = body(protocol, xs, poison)
        return clients[i % CLIENTS].post(path, json=doc)

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            return list(pool.map(one, range(len(requests))))
    finally:
        for c in clients:
            c.close()


def mixed_requests(n: int, seed: int) -> list[tuple[str, list[float], bool]]:
    """n requests of 1 to 5 rows through the three protocols, every row's x unique, all in (0.5, 1)."""
    rng = random.Random(seed)
    out, k = [], 0
    for i in range(n):
        rows = rng.randint(1, 5)
        xs = [round(0.5 + (k + j + 1) / 10_000, 6) for j in range(rows)]
        k += rows
        out.append((("invocations", "predict", "v2")[i % 3], xs, False))
    return out


def test_each_request_gets_exactly_its_rows_in_mixed_batches(batched: str, built: tuple[Path, Path]):
    requests = mixed_requests(240, seed=1)
    responses = send(batched, requests)
    assert [r.status_code for r in responses] == [200] * len(requests), [r.text for r in responses if r.is_error]
    for (protocol, xs, _), r in zip(requests, responses, strict=True):
        assert answered_x(protocol, r.json()) == pytest.approx(xs, abs=1e-12), protocol
    seen = calls(built[1])
    assert sorted(x for call in seen for x in call) == sorted(x for _, xs, _ in requests for x in xs)
    assert max(len(c) for c in seen) > 5, "no call scored more than one request's rows: nothing was batched"
    assert len(seen) < len(requests) / 2


def test_a_failing_model_fails_only_its_batch(batched: str, built: tuple[Path, Path]):
    requests = mixed_requests(120, seed=2)
    poisoned = 60
    requests[poisoned] = (requests[poisoned][0], requests[poisoned][1], True)
    responses = send(batched, requests)
    seen = calls(built[1])
    failed_call = next(c for c in seen if requests[poisoned][1][0] in c)
    in_failed = {i for i, (_, xs, _) in enumerate(requests) if xs[0] in failed_call}
    assert len(in_failed) > 1, "the poisoned request was scored alone: no batch to fail"
    for i, r in enumerate(responses):
        if i in in_failed:
            assert r.status_code == 500, (i, r.text)
            message = json.dumps(r.json())
            assert "the model failed on a batch of" in message and "a poisoned row" in message
        else:
            assert r.status_code == 200, (i, r.text)
            assert answered_x(requests[i][0], r.json()) == pytest.approx(requests[i][1], abs=1e-12)


BAD = [
    ("/invocations", {"inputs": [[0.25, 0.0]]}),  # 2 values for 3 columns
    ("/invocations", {"inputs": [[0.25, "x", 0.0]]}),
    ("/predict", {"inputs": [[0.25, 0.0, 0.0, 9.0]]}),
    ("/v2/models/probe/infer", {"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [0.25]}]}),
    ("/invocations", {"instances": [[0.25, 0.0, 1e400]]}),
]


def test_bad_input_is_refused_before_it_joins_a_batch(batched: str, built: tuple[Path, Path]):
    good = mixed_requests(64, seed=3)
    clients = [httpx.Client(base_url=batched, timeout=30) for _ in range(CLIENTS)]

    def one(i: int) -> httpx.Response:
        c = clients[i % CLIENTS]
        if i % 4 == 3:  # every fourth request is bad, sent among the good ones
            path, doc = BAD[(i // 4) % len(BAD)]
            return c.post(path, content=json.dumps(doc).replace("Infinity", "1e400"))
        path, doc = body(*good[i][:2])
        return c.post(path, json=doc)

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            responses = list(pool.map(one, range(len(good))))
    finally:
        for c in clients:
            c.close()
    for i, r in enumerate(responses):
        if i % 4 == 3:
            assert r.status_code in (400, 422), r.text
        else:
            assert r.status_code == 200, r.text
    seen = [x for call in calls(built[1]) for x in call]
    assert 0.25 not in seen, "a refused request's rows reached the model"
    assert sorted(seen) == sorted(x for i, (_, xs, _) in enumerate(good) if i % 4 != 3 for x in xs)


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


def test_metrics_stay_per_request_and_count_batches(batched: str, built: tuple[Path, Path]):
    requests = [(p, xs, False) for p, xs, _ in mixed_requests(96, seed=4) if p == "invocations"]
    before = httpx.get(f"{batched}/metrics").text  # the server is shared with the tests above: differences
    responses = send(batched, requests)
    assert all(r.status_code == 200 for r in responses)
    after = httpx.get(f"{batched}/metrics").text

    def grew(name: str) -> float:
        return metric(after, name) - metric(before, name)

    assert grew('cxops_request_seconds_count{route="/invocations",status="200"}') == len(requests)
    seen = calls(built[1])
    assert grew("cxops_serving_batch_requests_count") == len(seen)  # one observation per model call
    assert grew("cxops_serving_batch_requests_sum") == len(requests)
    assert grew("cxops_serving_batch_size_sum") == sum(len(xs) for _, xs, _ in requests)
    # latency from each request's arrival: every request waited at least its own model call (20 ms)
    assert grew('cxops_request_seconds_sum{route="/invocations",status="200"}') >= 0.02 * len(requests)


def test_without_batching_each_request_is_its_own_call(built: tuple[Path, Path]):
    """The same load with batching off: a call per request (what the tests above tell batching from)."""
    for url in serve(*built, "off"):
        requests = mixed_requests(48, seed=5)
        responses = send(url, requests)
        assert all(r.status_code == 200 for r in responses)
        seen = calls(built[1])
        assert len(seen) == len(requests)
        assert "cxops_serving_batch_size" not in httpx.get(f"{url}/metrics").text


def test_a_lone_request_is_scored_inline_on_the_direct_path(batched: str, built: tuple[Path, Path]):
    """No contention (one client, one request at a time, through every protocol): each request is scored at once
    on the server's event loop, as a batch of one, on the direct path (the only path that scores inline), without
    the batcher's queue or its worker thread. A poisoned request fails alone; the next is answered as usual. (The
    first request after load, from the tests before, may queue: a batch of one there says the load is over.)"""
    requests = mixed_requests(12, seed=6)
    with httpx.Client(base_url=batched, timeout=30) as client:
        assert post(client, "invocations", [0.5625]).status_code == 200
        built[1].write_text("")
        before = httpx.get(f"{batched}/metrics").text
        responses = [post(client, protocol, xs) for protocol, xs, _ in requests]
        poisoned = post(client, "invocations", [0.75], poison=True)
        after_poison = post(client, "predict", [0.875])
    after = httpx.get(f"{batched}/metrics").text
    for (protocol, xs, _), r in zip(requests, responses, strict=True):
        assert r.status_code == 200, r.text
        assert answered_x(protocol, r.json()) == pytest.approx(xs, abs=1e-12)
    assert poisoned.status_code == 500 and "the model failed on a batch of 1 requests" in poisoned.text
    assert after_poison.status_code == 200 and answered_x("predict", after_poison.json()) == [0.875]
    n = len(requests) + 2
    assert calls(built[1]) == [xs for _, xs, _ in requests] + [[0.75], [0.875]]  # one call per request
    assert threads(built[1]) == ["MainThread"] * n, "a lone request was handed to the batcher's worker thread"
    inline = "cxops_serving_batch_inline_calls_total"
    assert metric(after, inline) - metric(before, inline) == n
    assert (
        metric(after, "cxops_serving_batch_requests_count") - metric(before, "cxops_serving_batch_requests_count") == n
    )
    assert metric(after, "cxops_serving_batch_requests_sum") - metric(before, "cxops_serving_batch_requests_sum") == n


def test_load_after_lone_requests_is_batched_and_lone_requests_are_inline_again(batched: str, built: tuple[Path, Path]):
    """Lone requests (inline), then concurrent load: the load is batched in the worker thread; after it, lone
    requests are scored inline again. (The first one after the load queues when the load's last batch held more than
    one request or another connection's request came within RECENT_SECONDS; a straggler batch of one at the end of a
    loaded run makes it inline, so which of the two is not asserted: CI trial of 2026-12-06 saw both.)"""
    with httpx.Client(base_url=batched, timeout=30) as client:
        for x in (0.625, 0.6875):
            assert post(client, "invocations", [x]).status_code == 200
        assert threads(built[1])[-1] == "MainThread"
        requests = mixed_requests(96, seed=7)
        responses = send(batched, requests)
        assert all(r.status_code == 200 for r in responses)
        seen, by = calls(built[1]), threads(built[1])
        batched_calls = [c for c, t in zip(seen, by, strict=True) if t != "MainThread"]
        assert max(len(c) for c in batched_calls) > 5, "the load was not batched"
        assert len(seen) < len(requests) / 2
        for x in (0.71875, 0.734375):
            assert post(client, "invocations", [x]).status_code == 200
    assert calls(built[1])[-2:] == [[0.71875], [0.734375]]
    assert threads(built[1])[-1] == "MainThread"


def post(client: httpx.Client, protocol: str, xs: list[float], poison: bool = False) -> httpx.Response:
    path, doc = body(protocol, xs, poison)
    return client.post(path, json=doc)
