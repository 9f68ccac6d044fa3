"""Where the lab's model servers listen: each server on a Unix socket of its own, and per environment one stable
path, a symbolic link to the socket of the server that serves it. nginx (cxops.lab.endpoint) listens on the env's
port and connects to the stable path for every new upstream connection, so repointing the link (an atomic
rename) moves new traffic to another server without reloading nginx, and without closing a single client
connection (connect(2) on a Unix socket path follows symbolic links, see unix(7))."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cxops.errors import CxopsError

# sockaddr_un.sun_path holds 108 bytes including the terminating NUL (unix(7)).
MAX_PATH = 107


def socket_dir(state: Path) -> Path:
    return state / "envs" / "sock"


def env_link(state: Path, env: str) -> Path:
    """The stable path nginx's upstream for `env` connects to."""
    return _checked(socket_dir(state) / f"{env}.sock")


def fresh_socket(state: Path, env: str) -> Path:
    """A new, unused socket path for one server of `env` (random suffix: the old server keeps its own meanwhile)."""
    socket_dir(state).mkdir(parents=True, exist_ok=True)
    return _checked(socket_dir(state) / f"{env}-{secrets.token_hex(4)}.sock")


def current_target(state: Path, env: str) -> Path | None:
    """The socket `env`'s link points at, or None when it points nowhere."""
    try:
        return Path(os.readlink(env_link(state, env)))
    except OSError:
        return None


def point(state: Path, env: str, target: Path | None) -> None:
    """Atomically repoint `env`'s link at `target` (rename of a fresh link over it), or remove it for None."""
    link = env_link(state, env)
    if target is None:
        link.unlink(missing_ok=True)
        return
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}")
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _checked(path: Path) -> Path:
    if len(os.fsencode(path)) > MAX_PATH:
        raise CxopsError(
            f"socket path {path} is {len(os.fsencode(path))} bytes; Unix sockets allow {MAX_PATH}: "
            "move the project (its .cxops state directory) to a shorter path"
        )
    return path
