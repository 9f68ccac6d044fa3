"""Run the build pod's two containers as the rendered template wires them, on this machine, for the image build test.

`python pod.py SPEC.json`, started by the test under `unshare --mount --propagation private` as root: every mount
below lives only in that mount namespace and disappears with it. What it sets up, as a pod would:

- /home is a fresh tmpfs; the test's volume directory is mounted at the template's state dir (/home/cxops/.cxops),
  so both containers see the same files at the template's own paths (`path`, OUT_DIR). The volume directory is
  made like an emptyDir: mode 0777, and with the pod's fsGroup (if the template sets one) group-owned by it with the
  setgid bit; each container's processes get the fsGroup as a supplementary group, as the kubelet does.
- BuildKit's container: HOME=/home/user (a directory of the test, owned by the template's BuildKit user) holding
  the docker config the template mounts and BuildKit's own configuration, and the binaries the rootless BuildKit image
  has on PATH (buildkitd, buildctl, rootlesskit, buildctl-daemonless.sh) bind-mounted into /home/user/bin.
- /etc/hosts names the registry by the template's in-cluster name (as cluster DNS would), /etc/subuid and
  /etc/subgid give the BuildKit user the 65536 subordinate ids the rootless image's /etc/subuid gives `user`.
- When the machine's Python lives under /root (0700, which no container user could reach; in the tools image it is
  world-readable), /root is hidden behind a tmpfs holding only that Python installation.

Each container runs with `setpriv` as the template's runAsUser/runAsGroup (no capabilities; its securityContext's
`capabilities.drop: [ALL]` empties the bounding set, `allowPrivilegeEscalation: false` sets no_new_privs), with an
environment of the template's env plus what its image sets. The spec (JSON) names the containers, the mounts and
the files. Results: one JSON line on stdout with each container's exit code; logs go to files the spec names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60)


def _bind(source: str, target: Path) -> None:
    if Path(source).is_dir():
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    _run("mount", "--bind", source, str(target))


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    python_home = spec["python_home"]  # e.g. /root/.pyenv (None: not under /root): bound again after /root is hidden
    staging = Path(spec["staging"])
    if python_home:
        _bind(python_home, staging / "python")
    _run("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/home")
    for target, source in spec["binds"].items():
        _bind(source, Path(target))
    for path, (uid, gid) in spec["owners"].items():
        Path(path).mkdir(parents=True, exist_ok=True)
        os.chown(path, uid, gid)
    for target, source in spec["etc"].items():
        _bind(source, Path(target))
    if python_home:
        _run("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/root")
        Path(python_home).mkdir(parents=True)
        _run("mount", "--move", str(staging / "python"), python_home)

    codes: dict[str, int] = {}
    for c in spec["containers"]:
        groups = ",".join(str(g) for g in c["groups"]) or None
        argv = ["setpriv", f"--reuid={c['uid']}", f"--regid={c['gid']}"]
        argv += [f"--groups={groups}"] if groups else ["--clear-groups"]
        argv += ["--inh-caps=-all", *c["setpriv"], "--", *c["command"]]
        with open(c["log"], "w") as log:
            res = subprocess.run(
                argv, env=c["env"], cwd=c["cwd"], stdout=log, stderr=subprocess.STDOUT, timeout=c["timeout"]
            )
        codes[c["name"]] = res.returncode
        if res.returncode != 0:
            break  # Argo runs the next container of the set only after this one succeeded
    print(json.dumps(codes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
