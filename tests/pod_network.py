"""A workflow pod's network for step processes in tests: the cluster's Services by their in-cluster names, resolved
the way a pod resolves them (the C library's resolver, `getaddrinfo`), on the Services' own ports.

Why not the forward proxy (HTTP_PROXY) the other as-wired tests use: it reaches only clients that honour HTTP_PROXY
(httpx, MLflow's requests). The gates' load generator (cxops/gates/load.py) opens its own connections to the
Service's name and port, as it must in a pod, where cluster DNS answers that name and nothing proxies. Teaching the
product to honour a proxy a pod never has would change what the gate measures to make a test pass; instead each
step process gets what a pod has:

- a network namespace of its own (`unshare --net`, inside an unprivileged user namespace), so it can bind the
  Services' ports (80, 5000, 9090) without touching this machine's, and sees nothing of this machine's loopback;
- a mount namespace in which /etc/hosts (read first: nsswitch `hosts: files dns`) maps each Service name to an
  address of its own in 127.0.0.0/8 inside that namespace, standing in for the Service's ClusterIP and cluster DNS
  (those addresses exist only in the step's namespace: nothing listens on this machine's network but the relays'
  Unix sockets in a private temporary directory);
- at each such address and Service port, a relay (this module run as a script, the step's parent inside the
  namespaces) to a Unix socket that the test process relays on to the real server on this machine's 127.0.0.1,
  standing in for kube-proxy (Unix sockets by path cross network namespaces; TCP does not).

Not modelled: the pod's uid (the step runs as root of its user namespace, uid 0 mapped to the test's own uid),
the search domains of a pod's resolv.conf (the steps use fully qualified names), NetworkPolicies. Each relayed
connection costs two extra hops on loopback (well under a millisecond; the staging gate's p95 limit is 200 ms).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve()
CHUNK = 65536
PR_SET_PDEATHSIG = 1  # prctl(2)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy SRC to DST until SRC's end closes, then close DST's writing side (half-close, as TCP relays do)."""
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Both directions between CLIENT and UPSTREAM; closes both when both directions ended."""
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


class _ToTcp(socketserver.BaseRequestHandler):
    """Outside: a connection on the Service's Unix socket relayed to the real server on 127.0.0.1:port."""

    def handle(self) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)  # type: ignore[attr-defined]
        except OSError:
            return  # nothing listens: the pod sees the connection closed, as when a Service has no endpoints
        upstream.settimeout(None)
        _relay(self.request, upstream)


class _UnixRelay(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class PodNetwork:
    """The Services a step's pod reaches: `services[host] = (service_port, port)`, the in-cluster name and port
    mapped to a server on this machine's 127.0.0.1:port (port None: a Service without endpoints, e.g. a stopped
    server). `tmpfs`: directories the pod has of its own (e.g. BuildKit's /run/buildkit and /var/lib/buildkit),
    empty in each process's mount namespace. Use as a context manager; `launcher` is the argv prefix that runs a
    command inside the pod's network."""

    def __init__(self, services: dict[str, tuple[int, int | None]], tmpfs: tuple[str, ...] = ()) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pod-net-"))
        self.servers: list[_UnixRelay] = []
        spec = []
        for i, (host, (service_port, port)) in enumerate(sorted(services.items())):
            path = str(self.dir / f"svc{i}.sock") if port is not None else None
            if path is not None:
                server = _UnixRelay(path, _ToTcp)
                server.port = port  # type: ignore[attr-defined]
                threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
                self.servers.append(server)
            spec.append({"host": host, "address": f"127.0.10.{i + 1}", "port": service_port, "socket": path})
        (self.dir / "spec.json").write_text(json.dumps({"services": spec, "tmpfs": list(tmpfs)}))
        (self.dir / "hosts").write_text(
            "127.0.0.1 localhost\n" + "".join(f"{s['address']} {s['host']}\n" for s in spec)
        )

    @property
    def launcher(self) -> list[str]:
        """`unshare` into new user, mount and network namespaces, then this module as the pod's network set-up."""
        return [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "--net",
            "--",
            sys.executable,
            str(HERE),
            str(self.dir),
            "--",
        ]

    def __enter__(self) -> PodNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for p in self.dir.iterdir():
            p.unlink()
        self.dir.rmdir()


class _ToUnix(socketserver.BaseRequestHandler):
    """Inside: a connection to a Service's address and port relayed to the Service's Unix socket."""

    def handle(self) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(self.server.path)  # type: ignore[attr-defined]
        except OSError:
            upstream.close()
            return
        _relay(self.request, upstream)


class _TcpRelay(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _inside(netdir: Path, argv: list[str]) -> int:
    """In the new namespaces: loopback up, /etc/hosts from NETDIR, the pod's own directories, a relay per Service;
    then ARGV, its exit code."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--bind", str(netdir / "hosts"), "/etc/hosts"], check=True)
    spec = json.loads((netdir / "spec.json").read_text())
    for path in spec["tmpfs"]:
        Path(path).mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", path], check=True)
    for svc in spec["services"]:
        if svc["socket"] is None:  # no endpoints: nothing listens, the connection is refused (kube-proxy rejects)
            continue
        server = _TcpRelay((svc["address"], svc["port"]), _ToUnix)
        server.path = svc["socket"]  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    libc = ctypes.CDLL(None, use_errno=True)
    # the step dies with this process (the interpreter's deadline kills only the process it started)
    return subprocess.run(
        argv, env=os.environ, preexec_fn=lambda: libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    ).returncode


if __name__ == "__main__":
    sep = sys.argv.index("--")
    sys.exit(_inside(Path(sys.argv[1]), sys.argv[sep + 1 :]))
