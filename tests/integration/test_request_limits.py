"""The model server bounds what a client sends before it is answered (issue 26, class 7): a request head must
arrive whole within `serving.request_head_timeout_seconds`, its body within `serving.request_body_timeout_seconds`,
the head within `serving.max_request_head_bytes` and `serving.max_request_headers` (else 408, 431 or 414, and the
connection closes), and the server answers other clients meanwhile.

Run as a user runs it: `cxops serve --model-dir` from a project whose cxops.yaml sets short limits, on a real build
from the session's lab (real MLflow). Clients are raw sockets: a head trickled a header at a time (slowloris), a
body that stops half-way, an oversized header. Each over both ways a request is answered: a POST with a
Content-Length (the direct path, cxops.serving.direct) and a chunked POST or a GET (uvicorn's ASGI cycle).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import free_port, lab_build, make_project

from cxops.waiting import wait_until

pytestmark = pytest.mark.integration

HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_HEAD_BYTES = 4096
MAX_HEADERS = 20
LIMITS = {
    "serving": {
        "request_head_timeout_seconds": HEAD_TIMEOUT,
        "request_body_timeout_seconds": BODY_TIMEOUT,
        "max_request_head_bytes": MAX_HEAD_BYTES,
        "max_request_headers": MAX_HEADERS,
    }
}
ANSWER_WITHIN = 4.0  # seconds a test waits for the server's answer: a deadline of 1 s, on a loaded machine
ROW = b'{"inputs": [[' + b", ".join([b"0.0"] * 64) + b"]]}"


@pytest.fixture(scope="module")
def context(cfg) -> Path:
    """One version built in the session's lab: its build context (model/ + version.json, the image's /srv/model)."""
    return lab_build(cfg)


@pytest.fixture(scope="module")
def url(context: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    build = context.parent  # .cxops/builds/<model>/<v>, as the README names it
    project = make_project(tmp_path_factory.mktemp("limits-project"), LIMITS).parent
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CXOPS_CONFIG"}  # found from the working directory
    proc = subprocess.Popen(
        [sys.executable, "-m", "cxops", "serve", "--model-dir", str(build), "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(base), timeout=120, what=f"{base}/readyz")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=ANSWER_WITHIN)


def _answer(sock: socket.socket) -> tuple[int, bytes, bool]:
    """(status, body, closed after it): everything the server sends until it closes, within ANSWER_WITHIN s; a
    server that sends nothing in that time fails the test with a timeout."""
    data = b""
    deadline = time.monotonic() + ANSWER_WITHIN
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            head, _, body = data.partition(b"\r\n\r\n")
            assert head, "the server closed without answering"
            return int(head.split(b" ", 2)[1]), body, True
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head, f"no answer within {ANSWER_WITHIN} s: the server still holds the connection"
    return int(head.split(b" ", 2)[1]), body, False


def _served(url: str) -> None:
    """Another client, meanwhile: scored at once."""
    started = time.monotonic()
    r = httpx.post(f"{url}/predict", content=ROW, headers={"content-type": "application/json"}, timeout=5)
    assert r.status_code == 200 and time.monotonic() - started < 2.0


def _trickle(sock: socket.socket, pieces: list[bytes], every: float) -> threading.Thread:
    """Send `pieces` one at a time, `every` seconds apart, in the background (until the server closes)."""

    def run() -> None:
        for piece in pieces:
            try:
                sock.sendall(piece)
            except OSError:
                return
            time.sleep(every)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


HEADS = {
    "direct": b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n",
    "cycle": b"GET /readyz HTTP/1.1\r\nhost: test\r\n",
}


@pytest.mark.parametrize("way", HEADS)
def test_a_head_trickled_a_header_at_a_time_gets_408_at_its_deadline(url: str, way: str):
    sock = _connect(url)
    started = time.monotonic()
    pads = [b"x-pad-%d: 1\r\n" % i for i in range(MAX_HEADERS - 5)]  # few and small: only the deadline is broken
    _trickle(sock, [HEADS[way], *pads], every=0.2)
    _served(url)
    status, body, closed = _answer(sock)
    took = time.monotonic() - started
    sock.close()
    assert (status, closed) == (408, True)
    assert b"request head not complete within 1 s" in body
    assert HEAD_TIMEOUT - 0.1 < took < HEAD_TIMEOUT + 2.0, took


def test_a_connection_that_never_sends_a_request_is_closed_at_the_head_deadline(url: str):
    sock = _connect(url)
    started = time.monotonic()
    _served(url)
    sock.settimeout(ANSWER_WITHIN)
    assert sock.recv(100) == b"", "no request began: closed without an answer"
    assert time.monotonic() - started < HEAD_TIMEOUT + 2.0
    sock.close()


BODIES = {  # a head announcing a body, and the first half of that body
    "direct": (
        b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        % len(ROW),
        ROW[: len(ROW) // 2],
    ),
    "cycle": (
        b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        b"%x\r\n%s\r\n" % (len(ROW) // 2, ROW[: len(ROW) // 2]),
    ),
}


@pytest.mark.parametrize("way", BODIES)
def test_a_body_that_stops_half_way_gets_408_at_its_deadline(url: str, way: str):
    head, half = BODIES[way]
    sock = _connect(url)
    sock.sendall(head + half)
    started = time.monotonic()
    _served(url)
    status, body, closed = _answer(sock)
    took = time.monotonic() - started
    sock.close()
    assert (status, closed) == (408, True)
    assert b"request body not complete within 1 s" in body
    assert took < BODY_TIMEOUT + 2.0, took
    assert 'status="500"' not in httpx.get(f"{url}/metrics", timeout=5).text  # the app saw a disconnect, no error


OVERSIZE = {  # one header line twice the head's limit
    "direct": HEADS["direct"] + b"content-length: %d\r\nx-big: %s\r\n\r\n" % (len(ROW), b"a" * 2 * MAX_HEAD_BYTES),
    "cycle": HEADS["cycle"] + b"x-big: %s\r\n\r\n" % (b"a" * 2 * MAX_HEAD_BYTES),
}


@pytest.mark.parametrize("way", OVERSIZE)
def test_an_oversized_header_gets_431_and_the_connection_closes(url: str, way: str):
    sock = _connect(url)
    sock.sendall(OVERSIZE[way] + (ROW if way == "direct" else b""))
    status, body, closed = _answer(sock)
    sock.close()
    assert (status, closed) == (431, True)
    assert body.startswith(b"request head of at least ") and body.endswith(b"exceeds the limit of 4096 bytes")
    _served(url)


@pytest.mark.parametrize("way", HEADS)
def test_too_many_header_lines_get_431(url: str, way: str):
    sock = _connect(url)
    extra = b"".join(b"x-h%d: 1\r\n" % i for i in range(MAX_HEADERS + 5))
    length = b"content-length: %d\r\n" % len(ROW) if way == "direct" else b""
    sock.sendall(HEADS[way] + length + extra + b"\r\n" + (ROW if way == "direct" else b""))
    status, body, closed = _answer(sock)
    sock.close()
    assert (status, closed) == (431, True)
    assert body == b"more than 20 header lines"


def test_a_header_growing_without_a_line_break_gets_431_before_its_deadline(url: str):
    """A header value sent a piece at a time, never ended: the parser holds it, so it counts as it arrives."""
    sock = _connect(url)
    started = time.monotonic()
    _trickle(sock, [HEADS["cycle"] + b"x-big: ", *[b"a" * 1000] * 12], every=0.05)
    status, body, closed = _answer(sock)
    sock.close()
    assert (status, closed) == (431, True)
    assert b"exceeds the limit of 4096 bytes" in body
    assert time.monotonic() - started < HEAD_TIMEOUT, "refused for its size, not at the deadline"


def test_a_request_target_over_the_limit_gets_414(url: str):
    sock = _connect(url)
    sock.sendall(b"GET /readyz?" + b"q" * 2 * MAX_HEAD_BYTES + b" HTTP/1.1\r\nhost: test\r\n\r\n")
    status, body, closed = _answer(sock)
    sock.close()
    assert (status, closed) == (414, True)
    assert body == b"request target longer than 4096 bytes"


@pytest.mark.parametrize("way", BODIES)
def test_requests_within_the_limits_are_served_on_a_kept_alive_connection(url: str, way: str):
    """A head of 17 header lines and ~3 KB, and a body sent in two halves 0.6 s apart (within its 1 s): 200, and
    the connection serves a second request after it."""
    head, half = BODIES[way]
    pads = b"".join(b"x-pad-%d: %s\r\n" % (i, b"p" * 200) for i in range(14))  # 3 headers + 14 = 17 lines, ~3 KB
    head = head.replace(b"host: test\r\n", b"host: test\r\n" + pads)
    rest = ROW[len(ROW) // 2 :]
    tail = rest if way == "direct" else b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest)
    sock = _connect(url)
    for _ in range(2):
        sock.sendall(head + half)
        time.sleep(BODY_TIMEOUT * 0.6)
        sock.sendall(tail)
        data = b""
        while b"}" not in data:  # the JSON answer's end
            data += sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    sock.close()


def test_in_the_cluster_the_overlays_model_env_carries_the_limits(context: Path, tmp_path: Path):
    """The serving image's command takes no options (docker/serving.Dockerfile): cxops.yaml's limits reach a server in
    the cluster through the overlay's model.env (the Deployment's envFrom). Write the overlay as a deploy does, start
    the image's command with that file as its environment, and find the project's header limit enforced."""
    from cxops.config import load_config
    from cxops.gitops.overlay import parse_env_file, write_overlay

    project_cfg = load_config(make_project(tmp_path / "project", LIMITS))
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("resources: [../../base]\n")
    write_overlay(overlay, "staging", "m", "1", "r/m:1", 1, "d", project_cfg.serving.server_env())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXOPS_")}
    env.update(parse_env_file((overlay / "model.env").read_text()))
    port = free_port()
    cmd = [sys.executable, "-m", "cxops.serving", "--model-dir", str(context), "--host", "127.0.0.1"]
    proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(base), timeout=120, what=f"{base}/readyz")
        sock = _connect(base)
        pads = b"".join(b"x-pad-%d: 1\r\n" % i for i in range(MAX_HEADERS + 5))
        sock.sendall(HEADS["cycle"] + pads + b"\r\n")
        status, _, closed = _answer(sock)
        sock.close()
        assert (status, closed) == (431, True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
