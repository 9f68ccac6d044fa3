"""`python -m cxops.serving --model-dir DIR`: the serving image's entry point (no config, no CLI imports)."""

from __future__ import annotations

import argparse
import errno
import gc
import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from cxops.serving.batch_settings import BatchSettings
from cxops.serving.limits import DIRECT_PATH_VAR, MAX_BATCH_VAR, RequestLimits, direct_path_from_env


class ListenError(OSError):
    """The server cannot listen where it was asked (the port is in use, the address is not this machine's)."""


def main() -> None:
    ap = argparse.ArgumentParser(prog="cxops.serving", description="Serve a cxops build directory over HTTP.")
    ap.add_argument("--model-dir", required=True, type=Path, help="a build dir: model/ + version.json")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--uds", type=Path, help="listen on this Unix socket instead of host:port (the lab's servers)")
    ap.add_argument(
        "--ready-fd",
        type=int,
        help="once listening, write one JSON line {ready, reason} to this inherited file descriptor and close it "
        "(the lab's controller waits on it instead of polling)",
    )
    ap.add_argument("--env", default=os.environ.get("CXOPS_ENV", "local"))
    # In the cluster the image's command is fixed; cxops.yaml's values arrive in the environment (the overlay's
    # model.env), so the environment gives the defaults and an option still wins.
    try:
        d = RequestLimits.from_env(os.environ)
        raw = os.environ.get(MAX_BATCH_VAR, "").strip() or "1024"
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{MAX_BATCH_VAR}={raw!r} is not a positive whole number (rows per request)")
        max_batch = int(raw)
        direct_path = direct_path_from_env(os.environ)
        b = BatchSettings.from_env(os.environ)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    ap.add_argument("--max-batch", type=int, default=max_batch)
    ap.add_argument("--head-timeout", type=float, default=d.head_timeout, help="seconds a request's head may take")
    ap.add_argument("--body-timeout", type=float, default=d.body_timeout, help="seconds its body may take after it")
    ap.add_argument("--max-head-bytes", type=int, default=d.max_head_bytes, help="request target + header lines")
    ap.add_argument("--max-headers", type=int, default=d.max_headers, help="header lines one request may carry")
    ap.add_argument(
        "--direct-path",
        action=argparse.BooleanOptionalAction,
        default=direct_path,
        help="answer scoring requests without an ASGI cycle where uvicorn's version allows "
        f"(default: {DIRECT_PATH_VAR} or on)",
    )
    ap.add_argument(
        "--batching",
        choices=("on", "off"),
        default="on" if b.enabled else "off",
        help="adaptive batching of a pyfunc model's calls (cxops.serving.batching)",
    )
    ap.add_argument("--batch-max-size", type=int, default=b.max_batch_size, help="most rows per batched model call")
    ap.add_argument(
        "--batch-max-wait-ms", type=float, default=b.max_wait_ms, help="most ms a batch's first request waits"
    )
    args = ap.parse_args()
    limits = RequestLimits(args.head_timeout, args.body_timeout, args.max_head_bytes, args.max_headers)
    if args.batch_max_size < 1 or not 0 <= args.batch_max_wait_ms <= 1000:
        ap.error(
            f"--batch-max-size {args.batch_max_size} / --batch-max-wait-ms {args.batch_max_wait_ms:g}: "
            "rows at least 1, milliseconds from 0 to 1000"
        )
    batching = BatchSettings(args.batching == "on", args.batch_max_size, args.batch_max_wait_ms)
    try:
        serve(
            args.model_dir,
            args.host,
            args.port,
            args.env,
            args.max_batch,
            uds=args.uds,
            ready_fd=args.ready_fd,
            limits=limits,
            direct_path=args.direct_path,
            batching=batching,
        )
    except ListenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to HOST:PORT, as uvicorn binds one (SO_REUSEADDR, inheritable), but bound here so a failure is
    a ListenError with one line for the caller to print, not uvicorn's log line and exit 3."""
    sock = socket.socket(family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = "; stop what holds it or pass another --port" if exc.errno == errno.EADDRINUSE else ""
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.set_inheritable(True)
    return sock


def event_loop(scorer: str | None) -> str:
    """uvicorn's event loop for a scorer. uvloop for the linear fast path (handlers of tens of microseconds: about
    25% more requests/s than the standard loop on digits). The standard loop for everything else: with handlers of
    milliseconds, uvloop answered some connections seconds late under concurrency (wine pipeline, 64 connections:
    p99 2.5 s against a p50 of 88 ms; the same with a handler that only spins for 2 ms), where the standard loop
    takes them in turn (p99 206 ms) at 15-25% less throughput. Measured with wrk, docs/performance.md."""
    return "uvloop" if scorer == "linear" else "asyncio"


def serve(
    model_dir: Path,
    host: str,
    port: int,
    env: str,
    max_batch: int,
    uds: Path | None = None,
    ready_fd: int | None = None,
    on_listening: Callable[[str | None], None] | None = None,
    limits: RequestLimits = RequestLimits(),
    direct_path: bool = True,
    batching: BatchSettings = BatchSettings(),
) -> None:
    """Load the model, bind, tell `ready_fd` (if given) whether the model is ready, call `on_listening` with the
    model's load error (None when loaded), then serve until SIGTERM (which lets in-flight requests finish and closes
    idle keep-alive connections: uvicorn's graceful shutdown). `limits`: deadlines and sizes of what a client sends
    (cxops.serving.limited). `direct_path`: scoring requests answered without an ASGI cycle, if uvicorn's version
    allows (cxops.serving.direct; one warning line when it does not). `batching`: adaptive batching of a pyfunc
    model (cxops.serving.batching). ListenError when HOST:PORT cannot be bound."""
    import logging

    import uvicorn

    from cxops.serving.app import create_app
    from cxops.serving.direct import direct_path_check
    from cxops.serving.limited import protocol_with

    app = create_app(model_dir.resolve(), env=env, max_batch=max_batch, batching=batching)
    direct, why_not = direct_path_check(direct_path)
    # One process per replica (Kubernetes scales out); access logs off: they cost throughput and say nothing new;
    # proxy headers off: nothing here reads the client address, and the middleware wraps every request.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        uds=str(uds) if uds else None,
        access_log=False,
        log_level="warning",
        # httptools; scoring answered without an ASGI cycle (cxops.serving.direct); head and body bounded (.limited)
        http=protocol_with(limits, direct),
        loop=event_loop(app.scorer),
        proxy_headers=False,
    )
    if why_not is not None:  # logged once uvicorn's logging is configured (by Config), as its own warnings are
        logging.getLogger("uvicorn.error").warning(why_not)
    if uds is not None:
        uds.unlink(missing_ok=True)  # a socket file left by a server that died; its path is this server's
        sock = config.bind_socket()
    else:
        sock = bind(host, port)
    sock.listen(2048)  # connections queue from here on, so "ready" below is true the moment it is written
    if ready_fd is not None:
        with os.fdopen(ready_fd, "w") as fh:
            fh.write(json.dumps({"ready": app.load_error is None, "reason": app.load_error or ""}) + "\n")
    if on_listening is not None:
        on_listening(app.load_error)
    # What was loaded lives as long as the process: out of the collector's sight, a full collection no longer walks
    # it (CPython's gc.freeze), so no request waits for one. FastAPI (docs, rare routes) is built on first use.
    gc.collect()
    gc.freeze()
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
