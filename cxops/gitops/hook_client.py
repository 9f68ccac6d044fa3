"""The lab remote's pre-receive hook, fast: hand the push to the lab's hook service (cxops.gitops.hook_service).

Run by the installed hook as `python -I -S hook_client.py SOCKET` (standard library only, nothing from site-packages:
it starts in a few tens of milliseconds). When nothing listens on SOCKET (the lab is down), it runs the in-process
hook, `python -m cxops.gitops.hook`, with the same input, so a push is always checked. A service that accepts the
connection but does not answer within TIMEOUT seconds refuses the push (fail closed).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

# What git sets for a pre-receive hook that the check's git reads need (git-receive-pack(1) "QUARANTINE
# ENVIRONMENT", git(1)): the repository, and the quarantine holding the pushed objects until the hook accepts.
FORWARDED = ("GIT_DIR", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH")
TIMEOUT = 60.0  # seconds: the check's MLflow reads are bounded at 5 s each


def in_process(data: str) -> int:
    """The hook without the service: a Python that imports cxops (site-packages on) checks the push itself."""
    return subprocess.run([sys.executable, "-m", "cxops.gitops.hook"], input=data, text=True, check=False).returncode


def git_environment() -> dict[str, str]:
    """The FORWARDED variables git set, with paths made absolute (git may give them relative to the hook's working
    directory, the repository; the service runs elsewhere). Alternates are a colon-separated list."""
    out = {}
    for key in FORWARDED:
        if (value := os.environ.get(key)) is not None:
            parts = value.split(":") if key == "GIT_ALTERNATE_OBJECT_DIRECTORIES" else [value]
            out[key] = ":".join(os.path.abspath(p) for p in parts if p)
    return out


def main(argv: list[str]) -> int:
    """Send the push to the service at argv[1]; print its verdict; its exit code (0 accepts)."""
    data = sys.stdin.read()
    request = json.dumps({"env": git_environment(), "stdin": data})
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(TIMEOUT)
    try:
        conn.connect(argv[1])
    except OSError:  # no service (missing socket, refused): check in-process
        conn.close()
        return in_process(data)
    try:
        with conn:
            conn.sendall(request.encode())
            conn.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        reply = json.loads(b"".join(chunks))
        sys.stderr.write(str(reply["stderr"]))
        return int(reply["code"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        print(f"cxops: push refused: the lab's hook service did not answer ({why})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
