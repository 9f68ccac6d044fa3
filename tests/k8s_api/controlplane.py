"""A real Kubernetes control plane on loopback for the tests: etcd and kube-apiserver, the binaries
scripts/install-go-tools builds (Kubernetes v1.35.4 and etcd 3.6.10, Kubespray v2.31.0's); on request also
kube-controller-manager, kube-scheduler and kwok v0.7.0, whose fake nodes report pods running and ready, so
Deployments roll out (kwok is the stand-in for kubelets and containers, which cannot run here).

Nothing here is a stand-in: the API server validates, stores and admits (ValidatingAdmissionPolicy included) exactly
as a cluster's does. What a cluster has and this has not: kubelets, a scheduler, controllers, a CNI, images
(docs/platform.md lists what is checked where).

Certificates and the service-account key pair are generated per run with `cryptography`; the admin client
authenticates with a client certificate in `system:masters`. Every process is stopped by its PID.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from gotools import GoTools

READY_TIMEOUT = 180.0  # seconds for etcd + API server to answer /readyz on a loaded 2-core machine
STOP_TIMEOUT = 15.0  # seconds between SIGTERM and SIGKILL
KWOK_ANNOTATION = "kwok.x-k8s.io/node"  # Nodes carrying it (value "fake") are kwok's


def go_tools() -> GoTools:
    """The binaries scripts/install-go-tools builds (tool name → path), each waited for on first use (tests/gotools.py:
    the test run installs nothing; `make test` starts their build before pytest)."""
    return GoTools()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    pkcs8 = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())


def _cert(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    ca: bool = False,
    server: bool = False,
    addresses: tuple[str, ...] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        names = [x509.DNSName("localhost"), x509.DNSName("kubernetes.default.svc")]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", *addresses)]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def write_pki(directory: Path, addresses: tuple[str, ...] = ()) -> dict[str, Path]:
    """CA, API server serving cert (for 127.0.0.1 and `addresses`), admin client cert (system:masters),
    service-account RSA key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(_name("cxops-test-ca"), ca_key, None, ca=True)
    files: dict[str, bytes] = {"ca.crt": ca.public_bytes(serialization.Encoding.PEM), "ca.key": _pem_key(ca_key)}
    for stem, subject, server in (
        ("apiserver", _name("kube-apiserver"), True),
        ("admin", _name("cxops-test-admin", "system:masters"), False),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(subject, key, (ca.subject, ca_key), server=server, addresses=addresses)
        files[f"{stem}.crt"] = cert.public_bytes(serialization.Encoding.PEM)
        files[f"{stem}.key"] = _pem_key(key)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files["sa.key"] = _pem_key(sa_key)
    files["sa.pub"] = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    paths = {}
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        path.chmod(0o600)
        paths[name] = path
    return paths


@dataclass
class ControlPlane:
    """etcd + kube-apiserver started under `root`; `kubeconfig` is an admin kubeconfig once `start` returned.

    By default both listen on this machine's loopback. With `netns` (a network namespace's name) they run inside
    that namespace instead, etcd on the namespace's own loopback and the API server on `address` there: hosts
    sharing that namespace's network reach it, and nothing listens on this machine's own interfaces."""

    root: Path
    tools: Mapping[str, Path]
    address: str = "127.0.0.1"
    netns: str | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    url: str = ""
    kubeconfig: Path = Path()
    pki: dict[str, Path] = field(default_factory=dict)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.root / f"{name}.log").open("wb")
        if self.netns and name in ("etcd", "kube-apiserver"):
            argv = ["ip", "netns", "exec", self.netns, *argv]
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log_tail(self, name: str, lines: int = 25) -> str:
        """The last lines a component logged (for failure messages)."""
        path = self.root / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def start(self) -> None:
        """Start etcd, then the API server; return once /readyz answers ok. Raises AssertionError with the
        component's log tail when one exits or is not ready within READY_TIMEOUT."""
        self.pki = write_pki(self.root / "pki", () if self.address == "127.0.0.1" else (self.address,))
        client, peer, secure = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            [
                str(self.tools["etcd"]),
                "--name=cxops-test",
                f"--data-dir={self.root / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=cxops-test=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",  # a throw-away store on a shared disk
                "--log-level=warn",
            ],
        )
        if self.netns:  # etcd's loopback is the namespace's: ask from in there
            self._wait("etcd", lambda: _http_ok_in(self.netns or "", f"{etcd_url}/health"))
        else:
            self._wait("etcd", lambda: _http_ok(f"{etcd_url}/health", None))
        p = self.pki
        self._spawn(
            "kube-apiserver",
            [
                str(self.tools["kube-apiserver"]),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={self.address}",
                f"--advertise-address={self.address}",
                f"--secure-port={secure}",
                f"--cert-dir={self.root / 'apiserver-certs'}",
                f"--tls-cert-file={p['apiserver.crt']}",
                f"--tls-private-key-file={p['apiserver.key']}",
                f"--client-ca-file={p['ca.crt']}",
                f"--service-account-key-file={p['sa.pub']}",
                f"--service-account-signing-key-file={p['sa.key']}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.233.0.0/18",  # Kubespray's kube_service_addresses default
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",  # one client; saves CPU on a shared machine
                "--v=1",
            ],
        )
        self.url = f"https://{self.address}:{secure}"
        self.kubeconfig = self.root / "kubeconfig"
        self.kubeconfig.write_text(self._kubeconfig())
        self.kubeconfig.chmod(0o600)
        if self.netns:  # its address may be the namespace's own loopback: ask from in there
            readyz = [str(self.tools["kubectl"]), f"--kubeconfig={self.kubeconfig}", "get", "--raw", "/readyz"]
            self._wait("kube-apiserver", lambda: self.run_in_netns(readyz).returncode == 0)
            return
        context = ssl.create_default_context(cafile=str(p["ca.crt"]))
        context.load_cert_chain(str(p["admin.crt"]), str(p["admin.key"]))
        self._wait("kube-apiserver", lambda: _http_ok(f"{self.url}/readyz", context))

    def run_in_netns(self, argv: list[str], timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command inside `netns` (here when there is none), output captured as text."""
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout, **kw)

    def _kubeconfig(self, embed: bool = False) -> str:
        p = self.pki
        if embed:
            user = {f"client-{k}-data": _b64(p[f"admin.{ext}"]) for k, ext in (("certificate", "crt"), ("key", "key"))}
            cluster = {"server": self.url, "certificate-authority-data": _b64(p["ca.crt"])}
        else:
            user = {"client-certificate": str(p["admin.crt"]), "client-key": str(p["admin.key"])}
            cluster = {"server": self.url, "certificate-authority": str(p["ca.crt"])}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": cluster}],
            "users": [{"name": "admin", "user": user}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
            "current-context": "test",
        }
        return json.dumps(config, indent=1)

    def admin_conf(self) -> str:
        """The admin kubeconfig with the certificates inline (as Kubespray's /etc/kubernetes/admin.conf), for
        copying to another host. Holds the admin key: never log it."""
        return self._kubeconfig(embed=True)

    def _wait(self, name: str, ready: object) -> None:
        deadline, delay = time.monotonic() + READY_TIMEOUT, 0.2
        while True:
            code = self.procs[name].poll()
            if code is not None:
                raise AssertionError(f"{name} exited with {code} before it was ready:\n{self.log_tail(name)}")
            if ready():  # type: ignore[operator]
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not ready within {READY_TIMEOUT:.0f}s:\n{self.log_tail(name)}")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def start_workloads(self, nodes: int = 2) -> None:
        """kube-controller-manager, kube-scheduler and kwok (fake nodes and pod lifecycles: no containers run), then
        `nodes` fake Nodes kwok manages. Raises AssertionError like `start`."""
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE  # our own loopback /healthz only
        p, kubeconfig = self.pki, str(self.kubeconfig)
        for name, extra in (
            (
                "kube-controller-manager",
                [
                    f"--service-account-private-key-file={p['sa.key']}",
                    f"--root-ca-file={p['ca.crt']}",
                    "--use-service-account-credentials=false",
                ],
            ),
            ("kube-scheduler", []),
        ):
            port = free_port()
            self._spawn(
                name,
                [
                    str(self.tools[name]),
                    f"--kubeconfig={kubeconfig}",
                    f"--authentication-kubeconfig={kubeconfig}",
                    f"--authorization-kubeconfig={kubeconfig}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={port}",
                    f"--cert-dir={self.root / (name + '-certs')}",
                    *extra,
                ],
            )
            self._wait(name, lambda port=port: _http_ok(f"https://127.0.0.1:{port}/healthz", insecure))
        port = free_port()
        self._spawn(
            "kwok",
            [
                str(self.tools["kwok"]),
                f"--kubeconfig={kubeconfig}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
                "--cidr=10.233.64.0/18",  # Kubespray's kube_pods_subnet default
                "--node-ip=10.0.0.10",
                f"--server-address=127.0.0.1:{port}",
            ],
        )
        self._wait("kwok", lambda: _http_ok(f"http://127.0.0.1:{port}/healthz", None))
        manifest = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"kwok-node{i}",
                    "annotations": {KWOK_ANNOTATION: "fake"},
                    "labels": {"kubernetes.io/hostname": f"kwok-node{i}", "kubernetes.io/os": "linux"},
                },
            }
            for i in range(1, nodes + 1)
        ]
        argv = [str(self.tools["kubectl"]), f"--kubeconfig={kubeconfig}", "apply", "-f", "-"]
        res = subprocess.run(
            argv,
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifest}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, f"fake nodes: {res.stderr}"

    def stop(self) -> None:
        """Stop every component, the API server and etcd last, each by its PID (SIGTERM, then SIGKILL after
        STOP_TIMEOUT)."""
        for name in ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _http_ok_in(netns: str, url: str) -> bool:
    """`_http_ok(url)` asked from inside a network namespace (plain HTTP only)."""
    probe = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=5)"
    res = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", probe], capture_output=True, timeout=30)
    return res.returncode == 0


def _http_ok(url: str, context: ssl.SSLContext | None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False
