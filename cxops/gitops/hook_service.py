"""The lab's pre-receive check as a service: the controller, already running with cxops imported, answers the hook.

A push to the lab's remote used to start a Python process that imported cxops' configuration (pydantic: about 0.35 s
of a 0.45 s hook on an idle machine) before it could check anything, and a version's way to production is three
pushes. With the lab up, the installed hook runs a stdlib-only client (cxops.gitops.hook_client) that sends the push
to this service over a Unix socket; the service runs the very same check (`hook.pre_receive`) and answers the verdict
and the exit code. Without the service (the lab down, a remote elsewhere) the client runs the hook in-process, as
before, so a push is never accepted unchecked.

Git hands a pre-receive hook its repository and the quarantine that holds the pushed objects through environment
variables (githooks(5), git-receive-pack(1) "QUARANTINE ENVIRONMENT"); the client forwards exactly those, and the
service's git reads use them (cxops.gitops.repo.GIT_CONTEXT_ENV), so it sees what the pusher sent.

Protocol: the client sends one JSON object {"env": {...}, "stdin": "..."} and closes its side; the service answers
one JSON object {"code": int, "stderr": "..."}.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys
import threading
from pathlib import Path

from cxops.config import load_config
from cxops.gitops.hook import pre_receive
from cxops.gitops.hook_client import FORWARDED
from cxops.gitops.repo import GIT_CONTEXT_ENV

MAX_REQUEST = 1 << 20  # bytes: a push's ref lines and a few paths
READ_TIMEOUT = 10.0  # seconds a client may take to send its request


def socket_path(state: Path) -> Path:
    """Where the lab's hook service listens (a short path: sockaddr_un holds 108 bytes, unix(7))."""
    return state / "gitops-hook.sock"


def answer(request: dict[str, object], config: Path) -> dict[str, object]:
    """The verdict for one request: the check run with the request's git environment and a freshly loaded
    cxops.yaml (edits since the lab started count); a config that cannot be loaded refuses (fail closed)."""
    err = io.StringIO()
    env = request.get("env")
    git_env = {k: str(v) for k, v in env.items() if k in FORWARDED} if isinstance(env, dict) else {}
    stdin = request.get("stdin")
    stdin = stdin if isinstance(stdin, str) else ""
    try:
        cfg = load_config(config)
    except Exception as exc:  # fail closed, as the in-process hook does
        return {"code": 1, "stderr": f"cxops: push refused: cannot load cxops.yaml ({exc})\n"}
    token = GIT_CONTEXT_ENV.set(tuple(git_env.items()))
    try:
        code = pre_receive(cfg, Path(git_env.get("GIT_DIR", ".")).resolve(), stdin.splitlines(), err=err)
    finally:
        GIT_CONTEXT_ENV.reset(token)
    return {"code": code, "stderr": err.getvalue()}


def _serve_one(conn: socket.socket, config: Path) -> None:
    with conn:
        conn.settimeout(READ_TIMEOUT)
        chunks, size = [], 0
        try:
            while chunk := conn.recv(65536):
                size += len(chunk)
                if size > MAX_REQUEST:
                    raise ValueError(f"request over {MAX_REQUEST} bytes")
                chunks.append(chunk)
            request = json.loads(b"".join(chunks))
            reply = answer(request if isinstance(request, dict) else {}, config)
        except (OSError, ValueError) as exc:
            reply = {"code": 1, "stderr": f"cxops: push refused: unreadable request to the hook service ({exc})\n"}
        with contextlib.suppress(OSError):  # the pusher went away; git refuses the push on its own
            conn.sendall(json.dumps(reply).encode())


def serve(state: Path, config: Path, stop: threading.Event) -> threading.Thread:
    """Listen on `socket_path(state)` (owner-only) in a daemon thread, answering one push at a time, until `stop`
    is set. Returns the thread. OSError if the socket cannot be bound."""
    path = socket_path(state)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    listener.listen(16)
    listener.settimeout(0.5)  # to see `stop`

    def loop() -> None:
        try:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                try:
                    _serve_one(conn, config)
                except Exception as exc:  # one bad request must not end the service; the client refuses
                    print(f"controller: hook service: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        finally:
            listener.close()
            path.unlink(missing_ok=True)

    thread = threading.Thread(target=loop, name="gitops-hook-service", daemon=True)
    thread.start()
    return thread
