"""Run one lab instance's user-data in a sandbox and write what it prints to the instance's console log.

Usage: cxops_lab_sandbox.py WORKDIR ROOTFS   (started by cxops_lab_virt.LabDriver.spawn)

The subset of cloud-init implemented is what a boot of a job needs: `#cloud-config` with write_files,
runcmd and power_state, or a `#!` script. Other keys are reported on the console and ignored, so a
document that relies on them fails visibly instead of silently. The sandbox is an overlay of ROOTFS
(a debootstrapped Debian) in private mount and PID namespaces, so killing this process group ends
every process of the "guest" and its mounts vanish with it.
"""

import base64
import gzip
import json
import os
import shlex
import subprocess
import sys
import threading
import time

import yaml

SUPPORTED = {"write_files", "runcmd", "power_state", "output"}
SCRIPTS = "/var/lib/cloud/instance/scripts"


def _console(path):
    return open(path, "ab", buffering=0)


def _say(console, text):
    console.write((f"[{time.monotonic() % 100000:12.6f}] {text}\n").encode())


def _target(upper, path):
    if not path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"write_files path must be absolute without '..': {path!r}")
    return os.path.join(upper, path.lstrip("/"))


def _decode(entry):
    content = entry.get("content", "")
    encoding = (entry.get("encoding") or "text").lower()
    data = content.encode() if isinstance(content, str) else bytes(content)
    if encoding in ("b64", "base64", "gz+b64", "gzip+base64", "gz+base64", "gzip+b64"):
        data = base64.b64decode(data)
    if encoding.startswith("gz"):
        data = gzip.decompress(data)
    return data


def _write(upper, path, data, mode, append=False):
    target = _target(upper, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "ab" if append else "wb") as f:
        f.write(data)
    os.chmod(target, mode)


def _runcmd_script(commands):
    lines = ["#!/bin/sh"]
    for cmd in commands:
        lines.append(" ".join(shlex.quote(str(c)) for c in cmd) if isinstance(cmd, list) else str(cmd))
    return ("\n".join(lines) + "\n").encode()


def prepare(user_data, upper, console):
    """Lay the user-data's files into the overlay's upper layer; return True if it asks to power off."""
    if user_data[:2] == b"\x1f\x8b":
        user_data = gzip.decompress(user_data)
    if user_data.startswith(b"#cloud-config"):
        cfg = yaml.safe_load(user_data) or {}
        for key in sorted(set(cfg) - SUPPORTED):
            _say(console, f"cxops-lab: cloud-config key {key!r} is not implemented by the lab sandbox; ignored")
        for entry in cfg.get("write_files") or []:
            mode = int(str(entry.get("permissions", "0644")), 8)
            _write(upper, entry["path"], _decode(entry), mode, bool(entry.get("append")))
        if cfg.get("runcmd"):
            _write(upper, SCRIPTS + "/runcmd", _runcmd_script(cfg["runcmd"]), 0o755)
        power = cfg.get("power_state") or {}
        return power.get("mode") in ("poweroff", "halt")
    if user_data.startswith(b"#!"):
        _write(upper, SCRIPTS + "/part-001", user_data, 0o755)
        return False
    if user_data.strip():
        _say(console, "cxops-lab: user-data is neither #cloud-config nor a #! script; nothing to run")
    return False


SETUP = r"""
set -e
M="$1"; R="$2"; U="$3"; W="$4"; C="$5"
mount -t overlay overlay -o "lowerdir=$R,upperdir=$U,workdir=$W" "$M"
mount -t proc proc "$M/proc"
mount -t tmpfs -o mode=755 tmpfs "$M/dev"
for d in null zero full random urandom tty; do : > "$M/dev/$d"; mount --bind "/dev/$d" "$M/dev/$d"; done
# /dev/console is a FIFO drained into the console log (a bind of the log itself would be truncated by `>`)
mkdir -p "$M/run/cxops-lab"; mount --bind "$C" "$M/run/cxops-lab"
for d in console ttyS0; do ln -s /run/cxops-lab/console "$M/dev/$d"; done
ln -s /proc/self/fd "$M/dev/fd"
mkdir -p "$M/dev/shm" "$M/dev/pts"
cp /etc/resolv.conf "$M/etc/resolv.conf" 2>/dev/null || true
cd /
exec chroot "$M" /bin/sh -c '
for s in /var/lib/cloud/instance/scripts/runcmd /var/lib/cloud/instance/scripts/part-*; do
  [ -f "$s" ] || continue
  "$s"; rc=$?
  [ "$rc" = 0 ] || echo "cloud-init: script $s exited with status $rc"
done'
"""

GUEST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}


class ConsolePipe:
    """A FIFO the guest writes to as /dev/console; a thread appends what arrives to the console log."""

    def __init__(self, directory, console):
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "console")
        if not os.path.exists(path):
            os.mkfifo(path, 0o622)
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # read-write: never sees EOF between writers
        self.console = console
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        import select

        while True:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except BlockingIOError:
                    data = b""
                if data:
                    self.console.write(data)
                    continue
            if self.stopping.is_set():
                return

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        os.close(self.fd)


def main(workdir, rootfs):
    console_path = os.path.join(workdir, "console.log")
    with _console(console_path) as console:
        with open(os.path.join(workdir, "meta.json")) as f:
            meta = json.load(f)
        _say(console, "cxops-lab sandbox: instance {} ({}) booting".format(meta["uuid"], meta.get("hostname")))
        if not os.path.exists(os.path.join(rootfs, "bin", "sh")):
            _say(console, f"cxops-lab: no sandbox root at {rootfs} (run scripts/openstack-lab up); halting")
            return 1
        upper, work, root = (os.path.join(workdir, d) for d in ("upper", "work", "root"))
        for d in (upper, work, root):
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(workdir, "user-data")) as f:
            raw = f.read().strip()
        try:
            poweroff = prepare(base64.b64decode(raw) if raw else b"", upper, console)
        except Exception as exc:  # a malformed document is the guest's problem: show it on the console
            _say(console, f"cloud-init: user-data could not be processed: {type(exc).__name__}: {exc}")
            return 1
        _say(console, "cloud-init: running modules for final stage")
        started = time.monotonic()
        pipe_dir = os.path.join(workdir, "dev")
        pipe = ConsolePipe(pipe_dir, console)
        try:
            rc = subprocess.call(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "--pid",
                    "--fork",
                    "--kill-child",
                    "/bin/sh",
                    "-c",
                    SETUP,
                    "setup",
                    root,
                    rootfs,
                    upper,
                    work,
                    pipe_dir,
                ],
                stdout=console,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=GUEST_ENV,
            )
        finally:
            pipe.close()
        _say(console, f"cloud-init: finished after {time.monotonic() - started:.2f} seconds (sandbox status {rc})")
        if poweroff:
            _say(console, "cloud-init: power_state: powering off")
            open(os.path.join(workdir, "poweroff"), "w").close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
