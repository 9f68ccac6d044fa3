"""The model server on a real build: predictions, explanations, metrics, and every kind of bad request."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import free_port, model_server, serving_process

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(built: Path) -> Iterator[str]:
    with model_server(built, "--env", "test", "--max-batch", "50") as (url, _):
        yield url


def golden(built: Path) -> dict:
    return json.loads((built / "golden.json").read_text())


def test_predict_matches_the_build_golden_set(server: str, built: Path):
    g = golden(built)
    r = httpx.post(f"{server}/predict", json={"inputs": g["inputs"]})
    assert r.status_code == 200
    body = r.json()
    assert body["predictions"] == g["predictions"]
    assert all(0 < c <= 1 for c in body["confidence"])


def test_version_reports_lineage(server: str, built: Path):
    v = httpx.get(f"{server}/version").json()
    lineage = json.loads((built / "version.json").read_text())
    assert v["version"] == lineage["version"] and v["run_id"] == lineage["run_id"]
    assert v["env"] == "test" and v["ready"] is True


def test_explain_gives_probabilities_and_contributions(server: str, built: Path):
    row = golden(built)["inputs"][0]
    body = httpx.post(f"{server}/explain", json={"inputs": [row]}).json()
    assert len(body["probabilities"][0]) == 10 and sum(body["probabilities"][0]) == pytest.approx(1, abs=1e-4)
    assert len(body["contributions"][0]) == 64


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"inputs": [[1.0, 2.0]]}, "needs 64 features, got 2"),
        ({"inputs": [["a"] * 64]}, "must be a JSON number; got strings"),
        ({"inputs": []}, "non-empty"),
        ({"inputs": [[0.0] * 64] * 51}, "exceeds the limit of 50"),
        ({"rows": [[0.0] * 64]}, "expected a JSON object"),
        ({"inputs": [[0.0] * 64, [0.0] * 63]}, "same length"),
    ],
)
def test_bad_requests_get_a_clear_422(server: str, payload: dict, needle: str):
    r = httpx.post(f"{server}/predict", json=payload)
    assert r.status_code == 422 and needle in r.json()["detail"]


def test_invalid_json_gets_422(server: str):
    r = httpx.post(f"{server}/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "invalid JSON" in r.json()["detail"]


def test_metrics_count_requests_and_classes(server: str, built: Path):
    from cxops.gates.metrics_window import delta, scrape

    before = scrape(server)
    httpx.post(f"{server}/predict", json={"inputs": golden(built)["inputs"][:3]})
    httpx.post(f"{server}/predict", json={"inputs": [[1.0]]})
    d = delta(scrape(server), before)
    assert d.requests.get("200", 0) == 1
    assert d.requests.get("422", 0) == 1
    assert sum(d.classes.values()) == 3
    assert d.confidence_count == 3
    text = httpx.get(f"{server}/metrics").text
    assert 'status="422"' in text.split("cxops_request_seconds_bucket", 1)[1], "latency is labelled by status"
    assert "cxops_model_info" in text


def test_openapi_documents_the_routes(server: str):
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"/predict", "/explain", "/healthz", "/readyz", "/version", "/metrics"} <= set(paths)


def test_corrupt_model_file_means_not_ready(built: Path, tmp_path: Path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    (broken / "model" / "model.skops").write_bytes(b"garbage")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "cxops.serving", "--model-dir", str(broken), "--port", str(port)]
    with serving_process(argv, f"{url}/healthz"):
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        for route in ("/predict", "/explain"):  # like /readyz: unavailable, not the client's fault
            r = httpx.post(f"{url}{route}", json={"inputs": [[0.0] * 64]})
            assert r.status_code == 503 and r.json()["detail"].startswith("model not loaded")
        v = httpx.get(f"{url}/version").json()
        assert v["ready"] is False and v["version"] == json.loads((built / "version.json").read_text())["version"]


def test_fast_path_returns_what_the_model_returns_on_the_golden_rows(server: str, built: Path):
    """The served probabilities (linear fast path behind the hot route) against the logged model's own
    predict_proba, loaded through MLflow on the same rows: the same classes, probabilities within the tolerance
    the server verifies its fast path with at load time. Nothing is cached: each row is scored on request."""
    import mlflow.sklearn
    import numpy as np

    from cxops.serving.model_dir import FAST_TOLERANCE

    rows = golden(built)["inputs"]
    assert httpx.get(f"{server}/version").json()["scorer"] == "linear"
    model = mlflow.sklearn.load_model(str(built / "model"))
    expected = model.predict_proba(np.asarray(rows, dtype=np.float64))
    served = httpx.post(f"{server}/invocations", json={"inputs": rows}).json()["predictions"]
    assert np.allclose(served, expected, rtol=0, atol=FAST_TOLERANCE)
    one_by_one = [httpx.post(f"{server}/predict", json={"inputs": [r]}).json()["predictions"][0] for r in rows]
    assert one_by_one == model.classes_[expected.argmax(axis=1)].tolist() == golden(built)["predictions"]


JS = [(b"content-type", b"application/json")]


def scoring_cases(built: Path) -> list[tuple[str, bytes, list[tuple[bytes, bytes]]]]:
    """(path, body, headers) of every scoring route, with valid bodies and each kind of refusal."""
    lineage = json.loads((built / "version.json").read_text())
    row = golden(built)["inputs"][0]
    good = json.dumps({"inputs": [row]}).encode()
    v2 = {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP64", "data": row}]}
    return [
        ("/predict", good, JS),
        ("/explain", good, JS),
        ("/predict", b"{not json", JS),
        ("/predict", json.dumps({"inputs": [[1.0, 2.0]]}).encode(), JS),
        ("/predict", good, [(b"content-type", b"text/plain")]),
        ("/predict", good, []),
        ("/invocations", good, JS),
        ("/invocations", json.dumps({"instances": [row], "inputs": [row]}).encode(), JS),
        ("/invocations", json.dumps({"dataframe_split": {"data": [row]}}).encode(), JS),
        (f"/v2/models/{lineage['name']}/infer", json.dumps(v2).encode(), JS),
        (f"/v2/models/{lineage['name']}/versions/{lineage['version']}/infer", b'{"inputs": []}', JS),
        ("/v2/models/other/infer", good, JS),
    ]


async def _answer(app, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, list, bytes]:
    """Drive one POST through an ASGI callable; (status, response headers, body)."""
    sent: list[dict] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    wanted = {b"content-type", b"connection"}
    return start["status"], sorted((k, v) for k, v in start.get("headers", []) if k in wanted), payload


def test_hot_path_answers_exactly_as_the_fastapi_route(built: Path):
    """Every scoring route, valid and refused bodies: the hot path (ModelServer.__call__) and FastAPI's routing of
    the same request give the same status, content type, connection header and body bytes."""
    import asyncio

    from cxops.serving.app import create_app

    app = create_app(built, env="test", max_batch=50)
    via_fastapi = app.fastapi()

    too_large = ("/predict", b"x" * 10, [*JS, (b"content-length", b"999999999")])
    for path, body, headers in [*scoring_cases(built), too_large]:
        hot = asyncio.run(_answer(app, path, body, headers))
        routed = asyncio.run(_answer(via_fastapi, path, body, headers))
        assert hot == routed, (path, body[:60], hot, routed)
    path, good, headers = scoring_cases(built)[0]
    assert asyncio.run(_answer(app, path, good, headers))[0] == 200


# --- the direct path (cxops.serving.direct) against uvicorn's ASGI cycle, on the wire -----------------------------


def _request(path: str, body: bytes, headers: list[tuple[bytes, bytes]], chunked: bool = False) -> bytes:
    """Raw HTTP/1.1 POST bytes: sized (Content-Length, the direct path) or chunked (the ASGI cycle)."""
    lines = [f"POST {path} HTTP/1.1".encode(), b"host: test", *(k + b": " + v for k, v in headers)]
    if chunked:
        lines.append(b"transfer-encoding: chunked")
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
    else:
        lines.append(b"content-length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _responses(sock, n: int) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Read `n` sized responses from `sock`: (status, headers by lower-case name, body)."""
    data, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(out)} of {n} responses"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        status_line, *lines = head.split(b"\r\n")
        headers = {k.lower(): v for k, _, v in (line.partition(b": ") for line in lines)}
        size = int(headers[b"content-length"])
        while len(data) < size:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a body"
            data += chunk
        out.append((int(status_line.split()[1]), headers, data[:size]))
        data = data[size:]
    return out


def _connect(url: str):
    import socket

    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _seen(response: tuple[int, dict[bytes, bytes], bytes]) -> tuple[int, bytes | None, bytes | None, bytes]:
    status, headers, body = response
    return status, headers.get(b"content-type"), headers.get(b"connection"), body


def test_the_direct_path_answers_exactly_as_the_asgi_cycle(server: str, built: Path):
    """Every scoring route, valid and refused bodies, over real sockets: a sized body (answered by the protocol
    itself) and the same body chunked (answered through uvicorn's ASGI cycle) give the same status, content type,
    connection header and body bytes."""
    for path, body, headers in scoring_cases(built):
        answers = []
        for chunked in (False, True):
            with _connect(server) as sock:
                sock.sendall(_request(path, body, headers, chunked))
                answers.append(_seen(_responses(sock, 1)[0]))
        assert answers[0] == answers[1], (path, body[:60], answers)


def test_pipelined_requests_on_both_paths_are_answered_in_order(server: str, built: Path):
    """Four requests in one write, alternating the direct path and the ASGI cycle, the last asking to close: four
    answers in the order asked, each what the same request gets alone, then the connection closes."""
    rows = golden(built)["inputs"][:4]
    requests = [
        ("/predict" if i % 2 else "/invocations", json.dumps({"inputs": [r]}).encode()) for i, r in enumerate(rows)
    ]
    alone = [
        httpx.post(f"{server}{path}", content=body, headers={"content-type": "application/json"})
        for path, body in requests
    ]
    wire = b"".join(
        _request(path, body, [*JS, *([(b"connection", b"close")] if i == 3 else [])], chunked=i % 2 == 1)
        for i, (path, body) in enumerate(requests)
    )
    with _connect(server) as sock:
        sock.sendall(wire)
        got = _responses(sock, 4)
        assert sock.recv(1) == b"", "the connection stays open after Connection: close"
    assert [(s, b) for s, _, b in got] == [(r.status_code, r.content) for r in alone]
    assert got[3][1][b"connection"] == b"close"


def test_a_request_whose_body_is_arriving_at_shutdown_is_answered(built: Path):
    """SIGTERM while a sized request's body is half sent (the promotion case: the old server stops while a client
    is mid-request): the server stops accepting, answers that request in full with Connection: close, then exits."""
    import signal
    import socket

    from cxops.waiting import wait_until

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "cxops.serving", "--model-dir", str(built), "--port", str(port)]
    body = json.dumps({"inputs": [golden(built)["inputs"][0]]}).encode()
    wire = _request("/predict", body, JS)
    with serving_process(argv, f"{url}/readyz") as proc, _connect(url) as sock:
        expected = httpx.post(f"{url}/predict", content=body, headers={"content-type": "application/json"})
        sock.sendall(wire[:-10])
        proc.send_signal(signal.SIGTERM)

        def refusing() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return True
            return False

        wait_until(refusing, timeout=10, what="the server to stop accepting connections")
        sock.sendall(wire[-10:])
        ((status, headers, answer),) = _responses(sock, 1)
        assert sock.recv(1) == b""
        assert proc.wait(timeout=10) == -signal.SIGTERM  # uvicorn re-raises the signal once it has shut down
    assert (status, answer) == (expected.status_code, expected.content) and status == 200
    assert headers[b"connection"] == b"close"
