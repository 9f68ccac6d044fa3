"""SSH test hosts on one machine: Debian roots from debootstrap, each in its own network namespace with sshd, reached
through a fourth namespace that plays the jump host, exactly as the generated ssh_config reaches cloud nodes.

Layout (addresses in 10.254.78.0/23, checked free before use; traffic goes only to these namespaces):

    test runner (root ns) 10.254.78.1 --veth-- 10.254.78.2 bastion ns --bridge 10.254.79.1/24
                                                  |-- veth -- node1 ns 10.254.79.11
                                                  |-- veth -- node2 ns 10.254.79.12 ...

The runner has no route to 10.254.79.0/24: every node is reached only through the bastion (ProxyJump).

One Debian root is built once per machine (`debootstrap --variant=minbase`, cached outside the work tree under
~/.cache/cxops/host-root/<key>/, the key a hash of what decides its content: see `cache_dir`) and shared
read-only: each host mounts it as the lower layer of an overlayfs with its own upper directory, inside the private
mount namespace of its sshd, so every mount (overlay, /proc, /sys, /dev/pts, the data volume) disappears
with the host's processes. Loop devices play attached Cinder volumes: the node's /dev gets the device node and the
udev-style link /dev/disk/by-id/virtio-<serial> a virtio disk would have.

Requires root, iproute2, util-linux (unshare, losetup), openssh-client and debootstrap (scripts/install-test-deps).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SUBNET = ipaddress.ip_network("10.254.78.0/23")
PUBLIC_RUNNER, PUBLIC_BASTION, PRIVATE_PREFIX = "10.254.78.1", "10.254.78.2", "10.254.79"
# What the cached root holds: sshd + python3 for Ansible, sudo for the `cc` user (as on Chameleon images), and every
# package roles/node_prep installs (the namespaces have no route to a mirror, so the apt task must find them there).
PACKAGES = (
    "openssh-server",
    "python3",
    "python3-apt",
    "python3-yaml",
    "sudo",
    "e2fsprogs",
    "ca-certificates",
    "conntrack",
    "ipset",
    "socat",
)
SUITE = "bookworm"
USER, UID = "cc", 1000
ROOT_RECIPE = 1  # bump when debian_root's steps change what the root holds


def cache_dir() -> Path:
    """Where the Debian root is cached: ${XDG_CACHE_HOME:-~/.cache}/cxops/host-root/<16 hex digits of sha256 over
    suite, packages, user, uid and ROOT_RECIPE>/. Outside the work tree, so every clone on the machine shares it; a
    changed input builds next to the old root instead of over it."""
    key = hashlib.sha256(json.dumps([SUITE, PACKAGES, USER, UID, ROOT_RECIPE]).encode()).hexdigest()[:16]
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cxops" / "host-root" / key


def run(*argv: str, check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """Run a command, output captured; raise with its stderr on failure (a test setup problem says what failed)."""
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip() or res.stdout.strip()}")
    return res


def debian_root(cache: Path) -> Path:
    """The cached Debian root, built on first use (~1-2 min, ~250 MB). Rebuilt when PACKAGES changes."""
    root, stamp = cache / f"debian-{SUITE}", cache / f"debian-{SUITE}.stamp"
    want = " ".join(PACKAGES)
    if root.is_dir() and stamp.is_file() and stamp.read_text() == want:
        return root
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed: run scripts/install-test-deps")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f"debian-{SUITE}.building-{os.getpid()}"  # another clone may be building the same root
    _remove_tree(tmp)
    # No mirror argument: debootstrap's default Debian mirror (the machine's apt reaches the same registry).
    run("debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(tmp), timeout=900)
    run("chroot", str(tmp), "ssh-keygen", "-A")
    run("chroot", str(tmp), "useradd", "--uid", str(UID), "--create-home", "--shell", "/bin/bash", USER)
    (tmp / "etc/sudoers.d" / USER).write_text(f"{USER} ALL=(ALL) NOPASSWD:ALL\n")
    (tmp / "etc/sudoers.d" / USER).chmod(0o440)
    run("chroot", str(tmp), "apt-get", "clean")
    if root.is_dir() and stamp.is_file() and stamp.read_text() == want:  # the other build finished first
        _remove_tree(tmp)
        return root
    _remove_tree(root)
    tmp.rename(root)
    stamp.write_text(want)
    return root


def _remove_tree(path: Path) -> None:
    """Delete a (half-built) root: first unmount what debootstrap may have left mounted inside it (/proc, /sys, a
    /dev bind) so that nothing outside the tree is ever deleted, then remove it without crossing filesystems."""
    if not path.exists():
        return
    prefix = str(path.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        run("umount", "--lazy", target)
    run("rm", "-rf", "--one-file-system", str(path), timeout=300)


def check_subnet_free() -> None:
    """Fail loudly when anything on this machine already uses the test subnet (never share someone's network)."""
    for line in json.loads(run("ip", "-j", "addr").stdout):
        for a in line.get("addr_info", []):
            if a.get("family") == "inet" and ipaddress.ip_address(a["local"]) in SUBNET:
                raise RuntimeError(
                    f"{a['local']} on {line['ifname']} is inside the test subnet {SUBNET}: another run "
                    f"of these tests, or the leftover of a killed one (`ip netns list`; remove "
                    f"`cx<N>-*` namespaces with `ip netns del`)"
                )
    for r in json.loads(run("ip", "-j", "route").stdout):
        dst = r.get("dst", "default")
        if dst != "default" and ipaddress.ip_network(dst, strict=False).overlaps(SUBNET):
            raise RuntimeError(f"route {dst} overlaps the test subnet {SUBNET}")


@dataclass
class Disk:
    """A loop device playing an attached volume: its serial (by-id link) and the backing file."""

    serial: str
    image: Path
    device: str = ""


@dataclass
class Host:
    """One SSH host: namespace, address, overlay directories and its sshd process."""

    name: str
    netns: str
    address: str
    dir: Path
    disks: list[Disk] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    @property
    def upper(self) -> Path:
        """The host's own writes (the overlay's upper layer): read by tests to see files on the host."""
        return self.dir / "upper"


class HostLab:
    """A bastion and N nodes; use as a context manager (cleanup runs even when setup fails half-way)."""

    def __init__(
        self,
        workdir: Path,
        cache: Path,
        nodes: tuple[str, ...] = ("node1", "node2", "node3"),
        disks: dict[str, list[str]] | None = None,
    ) -> None:
        self.workdir, self.cache = workdir, cache
        tag = f"cx{os.getpid() % 100000}"
        self.tag = tag
        self.bastion = Host("bastion", f"{tag}-bastion", PUBLIC_BASTION, workdir / "bastion")
        self.nodes = [Host(n, f"{tag}-{n}", f"{PRIVATE_PREFIX}.{11 + i}", workdir / n) for i, n in enumerate(nodes)]
        for name, serials in (disks or {}).items():
            host = self.host(name)
            host.disks = [Disk(s, workdir / f"{name}-{i}.img") for i, s in enumerate(serials)]
        self.key = workdir / "id_ed25519"
        self.ssh_config = workdir / "ssh_config"
        self._netns: list[str] = []
        self._runner_link = f"{tag}-pub"

    def host(self, name: str) -> Host:
        return next(h for h in [self.bastion, *self.nodes] if h.name == name)

    # -- setup ------------------------------------------------------------------------------------------------------
    def __enter__(self) -> HostLab:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        check_subnet_free()
        lower = debian_root(self.cache)
        self.workdir.mkdir(parents=True, exist_ok=True)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cxops-test", "-f", str(self.key))
        self._network()
        for h in [self.bastion, *self.nodes]:
            self._prepare_root(h)
        for h in [self.bastion, *self.nodes]:
            self._start_sshd(h, lower)
        self._write_ssh_config()
        self._wait_ssh()

    def _ns(self, *argv: str) -> None:
        run("ip", *argv)

    def _network(self) -> None:
        b = self.bastion.netns
        for h in [self.bastion, *self.nodes]:
            self._ns("netns", "add", h.netns)
            self._netns.append(h.netns)
            self._ns("-n", h.netns, "link", "set", "lo", "up")
        self._ns("link", "add", self._runner_link, "type", "veth", "peer", "name", "pub0", "netns", b)
        self._ns("addr", "add", f"{PUBLIC_RUNNER}/30", "dev", self._runner_link)
        self._ns("link", "set", self._runner_link, "up")
        self._ns("-n", b, "addr", "add", f"{PUBLIC_BASTION}/30", "dev", "pub0")
        self._ns("-n", b, "link", "set", "pub0", "up")
        self._ns("-n", b, "link", "add", "br0", "type", "bridge")
        self._ns("-n", b, "addr", "add", f"{PRIVATE_PREFIX}.1/24", "dev", "br0")
        self._ns("-n", b, "link", "set", "br0", "up")
        for i, h in enumerate(self.nodes):
            port = f"n{i}"
            self._ns("-n", b, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.netns)
            self._ns("-n", b, "link", "set", port, "master", "br0", "up")
            self._ns("-n", h.netns, "addr", "add", f"{h.address}/24", "dev", "eth0")
            self._ns("-n", h.netns, "link", "set", "eth0", "up")

    def _prepare_root(self, h: Host) -> None:
        """Files each host gets before its overlay is mounted (the upper layer must not change while mounted)."""
        up = h.upper
        for d in ("upper", "work", "root"):
            (h.dir / d).mkdir(parents=True, exist_ok=True)
        ssh = up / "home" / USER / ".ssh"
        ssh.mkdir(parents=True)
        (ssh / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        for p in (up / "home" / USER, ssh, ssh / "authorized_keys"):
            os.chown(p, UID, UID)
        ssh.chmod(0o700)
        (up / "etc").mkdir(exist_ok=True)
        (up / "etc/hostname").write_text(f"{h.name}\n")
        (up / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {h.name}\n")
        for disk in h.disks:
            run("truncate", "-s", "64M", str(disk.image))
            disk.device = run("losetup", "--find", "--show", str(disk.image)).stdout.strip()
            st = os.stat(disk.device)
            dev = up / "dev"
            (dev / "disk" / "by-id").mkdir(parents=True, exist_ok=True)
            node = dev / Path(disk.device).name
            if not node.exists():
                os.mknod(node, 0o660 | 0o060000, st.st_rdev)
            (dev / "disk" / "by-id" / f"virtio-{disk.serial}").symlink_to(f"../../{node.name}")

    def _start_sshd(self, h: Host, lower: Path) -> None:
        root = h.dir / "root"
        script = (
            f"hostname {h.name} && "
            f"mount -t overlay overlay -o lowerdir={lower},upperdir={h.upper},workdir={h.dir / 'work'} {root} && "
            f"mount -t proc proc {root}/proc && mount -t sysfs sysfs {root}/sys && "
            f"mount -t devpts -o newinstance,ptmxmode=0666 devpts {root}/dev/pts && "
            f"mkdir -p {root}/run/sshd && "
            f"exec chroot {root} /usr/sbin/sshd -D -e -o UseDNS=no -o PasswordAuthentication=no "
            f"-o MaxStartups=100 -o MaxSessions=100"
        )
        log = (h.dir / "sshd.log").open("w")
        h.proc = subprocess.Popen(
            ["ip", "netns", "exec", h.netns, "unshare", "--uts", "sh", "-c", script],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _write_ssh_config(self) -> None:
        """The generated ssh_config's shape (bastion, one ProxyJump entry per node) plus this test's key."""
        lines = ["Host bastion", f"  HostName {self.bastion.address}", ""]
        for h in self.nodes:
            lines += [f"Host {h.name}", f"  HostName {h.address}", "  ProxyJump bastion", ""]
        lines += [
            "Host *",
            f"  User {USER}",
            f"  IdentityFile {self.key}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {self.workdir / 'known_hosts'}",
            "  StrictHostKeyChecking accept-new",
            "  BatchMode yes",
            "  ConnectTimeout 10",
            "",
        ]
        self.ssh_config.write_text("\n".join(lines))

    @property
    def shared_address(self) -> str:
        """The bastion's address on the nodes' bridge: every node reaches it directly (a server the nodes share
        runs in the bastion's namespace and binds it)."""
        return f"{PRIVATE_PREFIX}.1"

    def route_runner_to_shared_address(self) -> None:
        """Let the runner reach `shared_address` (only that address, the bastion's own; the nodes stay unreachable
        but through the jump host). The route goes with the runner's link in `close`."""
        run("ip", "route", "add", f"{self.shared_address}/32", "via", PUBLIC_BASTION, "dev", self._runner_link)

    def ssh(self, host: str, command: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        """Run a shell command on a host through the jump host, as the user would."""
        return run("ssh", "-F", str(self.ssh_config), host, command, timeout=timeout, check=check)

    def _wait_ssh(
        self, timeout: float = 90
    ) -> None:  # sshd starts in seconds; on a loaded 2-core machine, 30 s was seen too short
        deadline, delay = time.monotonic() + timeout, 0.1
        pending = [h.name for h in self.nodes]
        while pending:
            for h in [self.bastion, *self.nodes]:
                if h.proc is not None and h.proc.poll() is not None:
                    raise RuntimeError(f"sshd of {h.name} exited: {(h.dir / 'sshd.log').read_text()[-800:]}")
            pending = [n for n in pending if self.ssh(n, "true", timeout=15, check=False).returncode != 0]
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"hosts {pending} did not answer over SSH within {timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, 2)

    def inventory(
        self,
        directory: Path,
        data_volume_ids: dict[str, str] | None = None,
        extra_vars: dict | None = None,
        gpu: tuple[str, ...] = (),
    ) -> Path:
        """Write hosts.yaml (the generated inventory's shape: Kubespray groups, ansible_host = ssh_config alias,
        ssh_common_args pointing at ssh_config) and copy ssh_config beside it. Returns hosts.yaml's path."""
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.ssh_config, directory / "ssh_config")
        hosts = {}
        for h in self.nodes:
            hosts[h.name] = {"ansible_host": h.name, "ip": h.address, "access_ip": h.address}
            if data_volume_ids and h.name in data_volume_ids:
                hosts[h.name]["data_volume_id"] = data_volume_ids[h.name]
        names = [h.name for h in self.nodes]
        data = {
            "all": {
                "hosts": hosts,
                "vars": {
                    "ansible_user": USER,
                    "ansible_ssh_common_args": "-F {{ inventory_dir }}/ssh_config",
                    **(extra_vars or {}),
                },
                "children": {
                    "kube_control_plane": {"hosts": {names[0]: None}},
                    "etcd": {"hosts": {names[0]: None}},
                    "kube_node": {"hosts": {n: None for n in names}},
                    "gpu": {"hosts": {n: None for n in gpu}},
                    "k8s_cluster": {"children": {"kube_control_plane": None, "kube_node": None}},
                },
            }
        }
        (directory / "hosts.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        return directory / "hosts.yaml"

    # -- cleanup ----------------------------------------------------------------------------------------------------
    def _pids_in(self, netns: str) -> list[int]:
        res = run("ip", "netns", "pids", netns, check=False)
        return [int(p) for p in res.stdout.split()] if res.returncode == 0 else []

    def close(self) -> None:
        """Stop every process of ours in the namespaces (sshd and its sessions), delete the namespaces and the
        runner's veth, detach the loop devices. Safe to call twice and after a half-finished start."""
        for h in [self.bastion, *self.nodes]:
            if h.proc is not None and h.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(h.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for ns in self._netns:
            while (pids := self._pids_in(ns)) and time.monotonic() < deadline:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL if time.monotonic() > deadline - 5 else signal.SIGTERM)
                time.sleep(0.2)
        for h in [self.bastion, *self.nodes]:
            if h.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    h.proc.wait(timeout=5)
        for ns in self._netns:
            run("ip", "netns", "del", ns, check=False)
        self._netns = []
        if run("ip", "link", "show", self._runner_link, check=False).returncode == 0:
            run("ip", "link", "del", self._runner_link, check=False)
        for h in self.nodes:
            for disk in h.disks:
                if disk.device:
                    self._detach(disk.device)
                    disk.device = ""

    @staticmethod
    def _detach(device: str) -> None:
        """losetup -d, retried briefly: the device is busy until the host's mount namespace is gone."""
        for _ in range(20):
            if run("losetup", "-d", device, check=False).returncode == 0:
                return
            time.sleep(0.25)
        run("losetup", "-d", device)
