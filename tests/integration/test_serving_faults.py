"""The model server against the inputs that fooled peers' scoring servers (issue 13, classes 1 and 5).

A real build served by a real `python -m cxops.serving` process; bodies go over real sockets, memory is the
process's own VmRSS.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from helpers import model_server
from hypothesis import HealthCheck, settings

from cxops.gates.metrics_window import CONFIDENCE_COUNT, CONFIDENCE_SUM, parse_metrics
from cxops.serving.app import max_body_bytes

pytestmark = pytest.mark.integration
MAX_BATCH = 50


@pytest.fixture(scope="module")
def served(built: Path) -> Iterator[tuple[str, int]]:
    with model_server(built, "--max-batch", str(MAX_BATCH)) as (url, proc):
        yield url, proc.pid


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def confidence(url: str) -> tuple[float, float]:
    snap = parse_metrics(httpx.get(f"{url}/metrics").text)
    values = {name: v for (name, _), v in snap.series.items()}
    return values[CONFIDENCE_SUM], values[CONFIDENCE_COUNT]


@pytest.mark.parametrize("route", ["/predict", "/explain"])
def test_inputs_beyond_the_models_range_are_422_and_never_reach_a_metric(served, route: str):
    url, _ = served
    before = confidence(url)
    r = httpx.post(f"{url}{route}", json={"inputs": [[1e308] * 64]})
    assert r.status_code == 422
    assert "outside the model's numeric range" in r.json()["detail"]
    after = confidence(url)
    assert after == before and all(math.isfinite(v) for v in after)
    assert "NaN" not in httpx.get(f"{url}/metrics").text
    ok = httpx.post(f"{url}{route}", json={"inputs": [[1.0] * 64]})  # and the server still scores normal rows
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("row", "named"),
    [
        ([True] * 64, "true/false"),
        (["0"] * 64, "strings"),
        ([" 3 "] * 64, "strings"),
        ([0.0] * 63 + [None], "null"),
        ([0.0] * 63 + [False], "true/false"),
    ],
)
def test_only_json_numbers_are_features(served, row: list, named: str):
    url, _ = served
    r = httpx.post(f"{url}/predict", json={"inputs": [row]})
    assert r.status_code == 422
    # the message names the offending field first (issue 12: inputs[0][63]: ...), then the rule and the type
    assert r.json()["detail"].startswith("inputs[0]")
    assert r.json()["detail"].endswith(f"every feature must be a JSON number; got {named}")


def test_integers_are_numbers(served):
    url, _ = served
    r = httpx.post(f"{url}/predict", json={"inputs": [[0] * 32 + [16] * 32]})
    assert r.status_code == 200


def _raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_a_128_mb_body_is_refused_before_it_is_read_and_others_are_not_stalled(served):
    url, pid = served
    limit = max_body_bytes(MAX_BATCH, 64)
    rss_before = rss_mb(pid)
    sock = _raw(url)
    size = 128 * 1024 * 1024
    sock.sendall(
        f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n".encode()
        + b'{"inputs": [['
        + b"1.0, " * 1000
    )
    started = time.perf_counter()
    status = _read_status(sock)
    refused_in = time.perf_counter() - started
    sock.close()
    assert status == 413 and refused_in < 2.0
    one = httpx.post(f"{url}/predict", json={"inputs": [[0.0] * 64]}, timeout=5)
    assert one.status_code == 200
    assert rss_mb(pid) - rss_before < 50, "the server read the body it refused"
    r = httpx.post(f"{url}/predict", content=b" " * (limit + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and f"{limit} bytes" in r.json()["detail"]


def test_a_chunked_body_is_cut_off_at_the_limit_while_others_are_served(served):
    url, pid = served
    limit = max_body_bytes(MAX_BATCH, 64)
    rss_before = rss_mb(pid)
    sock = _raw(url)
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"1.0, " * 200_000  # 1 MB per chunk, 128 of them at most
    sent = {"bytes": 0}

    def upload() -> None:
        try:
            for _ in range(128):
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent["bytes"] += len(chunk)
        except OSError:  # the server answered 413 and closed: the rest is never read
            pass

    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    latencies = []
    for _ in range(5):  # one-row requests while the upload is in flight
        t = time.perf_counter()
        assert httpx.post(f"{url}/predict", json={"inputs": [[0.0] * 64]}, timeout=5).status_code == 200
        latencies.append(time.perf_counter() - t)
    status = _read_status(sock)
    uploader.join(timeout=30)
    sock.close()
    assert status == 413
    assert max(latencies) < 1.0, latencies
    assert sent["bytes"] < 64 * 1024 * 1024, "the server kept reading past the limit"
    assert rss_mb(pid) - rss_before < 50
    assert limit < 4 * 1024 * 1024


def test_batch_of_max_rows_fits_the_body_limit(served):
    url, _ = served
    row = [-1.2345678901234567e-300] * 64  # the longest numbers a client is likely to send
    r = httpx.post(f"{url}/predict", json={"inputs": [row] * MAX_BATCH})
    assert r.status_code == 200, r.text


# -- schema-driven fuzzing (schemathesis): the server's own OpenAPI, bounded in examples and time -----------------

FUZZ_EXAMPLES = 30  # per operation and mode; 6 operations x 2 modes: a few hundred requests


@pytest.mark.timeout(420)
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_fuzzed_requests_never_get_a_5xx_or_hang(served, mode: str):
    """Every operation of the served OpenAPI, with schema-valid (positive) and schema-violating (negative) data:
    no 5xx, a documented status and content type, a response within 5 s (the model is loaded, so a 503 would be
    a failure too: it is documented for a server without a model only)."""
    from hypothesis import given
    from schemathesis import GenerationMode, checks

    url, _ = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", wait_for_schema=30)
    validate = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    if mode == "negative":
        validate.append(checks.negative_data_rejection)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/predict", "/explain", "/readyz", "/metrics"}
    if mode == "negative":  # only a request body can violate the schema; the GETs take no input
        operations = [op for op in operations if op.method.lower() == "post"]
    for op in operations:

        @given(op.as_strategy(GenerationMode(mode)))
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:
            case.call_and_validate(base_url=url, timeout=5, checks=validate)

        fuzz()


def test_the_server_still_answers_after_the_fuzzing(served):
    url, _ = served
    assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    assert httpx.post(f"{url}/predict", json={"inputs": [[0.0] * 64]}, timeout=5).status_code == 200
    text = httpx.get(f"{url}/metrics", timeout=5).text
    assert 'status="500"' not in text and "NaN" not in text


# -- every 4xx names the bad input, per protocol (issue 26): schema-driven bodies for each protocol's routes ------

PROTOCOLS = {  # protocol: (its scoring routes in the OpenAPI document, the field its error body carries)
    "cxops": ({"/predict", "/explain"}, "detail"),
    "mlflow": ({"/invocations"}, "message"),
    "v2": ({"/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"}, "error"),
}
# A refusal of the body as a whole (not JSON, not an object, none of the protocol's keys, too large, wrong type)
WHOLE_BODY = ("expected a JSON object", "expected exactly one of", "invalid JSON body", "body ", "content-type ")
FIELD = re.compile(r"[A-Za-z_]+")


def names_the_input(message: str, body: object) -> bool:
    """The refusal names what was wrong: a field path rooted at one of the body's own keys (`inputs[0][3]: ...`,
    `dataframe_split.data: ...`), or the body as a whole."""
    if message.startswith(WHOLE_BODY):
        return True
    key = FIELD.match(message)
    return key is not None and isinstance(body, dict) and key.group() in body


@pytest.mark.timeout(420)
@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fuzzed_refusals_name_the_bad_input(served, built: Path, protocol: str, mode: str):
    """Bodies generated from each protocol's request schema (valid ones, most of which the model's signature still
    refuses, and schema-violating ones) on the served model: no 5xx, and every 4xx names the input it refuses."""
    from hypothesis import given
    from schemathesis import GenerationMode, checks

    url, _ = served
    paths, field = PROTOCOLS[protocol]
    lineage = json.loads((built / "version.json").read_text())
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", wait_for_schema=30)
    operations = [op for op in (r.ok() for r in schema.get_all_operations()) if op.path in paths]
    assert {op.path for op in operations} == paths
    refused: list[str] = []

    def named(ctx, response, case) -> None:
        if 400 <= response.status_code < 500:
            message = response.json()[field]
            refused.append(message)
            assert names_the_input(message, case.body), f"{response.status_code} names no input: {message!r}"

    for op in operations:

        @given(op.as_strategy(GenerationMode(mode)))
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:
            if case.path_parameters:  # the served model's name and version: its body is what is judged
                served_as = {"name": lineage["name"], "version": str(lineage["version"])}
                case.path_parameters = {k: served_as[k] for k in case.path_parameters}
            case.call_and_validate(base_url=url, timeout=5, checks=[checks.not_a_server_error, named])

        fuzz()
    assert refused, "no request was refused: the fuzzing judged nothing"
