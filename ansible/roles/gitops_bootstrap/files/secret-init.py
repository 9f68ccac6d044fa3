#!/usr/bin/env python3
"""Create PATH holding KEY=<random> for each KEY, readable by root only; never overwrite, never print a value.

Usage: secret-init.py PATH KEY[=VALUE] [...]. A bare KEY gets 32 random bytes, URL-safe base64 (Python's `secrets`);
KEY=VALUE is written as given (a fixed, non-secret value such as a database role name the manifests also name).
Exit 0 when written, 1 when PATH already exists (the caller's `creates:` normally prevents that)."""

import os
import secrets
import sys


def main(path: str, keys: list[str]) -> int:
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{key}\n" if "=" in key else f"{key}={secrets.token_urlsafe(32)}\n" for key in keys)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if PATH exists: existing values are never replaced
    except FileExistsError:
        print(f"{path} exists; kept", file=sys.stderr)
        return 1
    finally:
        os.unlink(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
