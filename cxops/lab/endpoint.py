"""The lab's one public endpoint, like the cluster's Gateway: nginx splitting every model route between production
and canary by the HTTPRoute weights in git. The same nginx also listens on each environment's own port (like the
env's Service) and passes it to the server that serves the env through the env's socket link (cxops.lab.sockets),
which the controller repoints when a new version is ready: a promotion closes no client connection and needs no
reload. A request whose pooled upstream connection a stopping server closed is retried on a new connection
(`proxy_next_upstream ... non_idempotent`: scoring is a pure function of the body, so a retry is safe), and nginx
drops pooled connections before the server's own keep-alive timeout (uvicorn's is 5 s) would race it.

nginx runs in the foreground (`daemon off`) as a process cxops started, with its own prefix, config, PID, logs and
temp directories under `<state>/endpoint/`, bound to 127.0.0.1:`lab.endpoint_port`. The split is nginx's
`split_clients` over `$request_id` (a fresh random id per request), so each request independently goes to the canary
with the configured probability (nginx.org, ngx_http_split_clients_module, ngx_http_core_module `$request_id`). The
controller rewrites the config when git's weights change and sends SIGHUP, nginx's graceful reload.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cxops.config import ENV_NAMES, Config
from cxops.errors import CxopsError
from cxops.generated import header, write_atomic
from cxops.gitops.traffic import backend_weights
from cxops.lab.sockets import env_link
from cxops.names import traffic_dir
from cxops.paths import state_dir
from cxops.processes import ManagedProcess
from cxops.waiting import wait_until

RENDERED_BY = "cxops lab up (the lab's endpoint; rewritten by the controller when git's HTTPRoute changes)"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")  # nginx's defaults are under /var/lib/nginx
UPSTREAM_KEEPALIVE = "4s"  # below uvicorn's 5 s keep-alive timeout: nginx, not the server, closes idle connections
INSTALL_HINT = "install it with scripts/install-lab-deps (Debian's nginx package)"


@dataclass(frozen=True)
class Split:
    """Percent of requests each side gets; they add up to 100."""

    production: int
    canary: int


def endpoint_dir(cfg: Config) -> Path:
    return state_dir(cfg) / "endpoint"


def endpoint_process(cfg: Config) -> ManagedProcess:
    return ManagedProcess("nginx", endpoint_dir(cfg))


def endpoint_url(cfg: Config) -> str:
    return f"http://127.0.0.1:{cfg.lab.endpoint_port}"


def nginx_binary() -> str:
    """Debian installs nginx in /usr/sbin, which a non-root PATH often lacks."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if found is None:
        raise CxopsError(f"nginx is not installed (the lab's public endpoint needs it); {INSTALL_HINT}")
    return found


def split_from_route(cfg: Config, route_text: str) -> Split:
    """The split an HTTPRoute asks for, as whole percents (raises ValueError on a route cxops cannot read)."""
    w = backend_weights(cfg, route_text)
    total = w["production"] + w["canary"]
    canary = round(100 * w["canary"] / total) if total else 0
    return Split(100 - canary, canary)


def split_from_git(cfg: Config) -> Split:
    """The split in the lab's GitOps remote at the branch head."""
    from cxops.gitops.bare_remote import bare_path, read_file_at_head

    text = read_file_at_head(bare_path(state_dir(cfg)), cfg.gitops.branch, f"{traffic_dir(cfg)}/httproute.yaml")
    return split_from_route(cfg, text)


PROXY = """            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_next_upstream error timeout non_idempotent;"""


def render_conf(cfg: Config, split: Split) -> str:
    d = endpoint_dir(cfg)
    state = state_dir(cfg)
    temps = "\n".join(f"    {name}_temp_path {d / 'tmp' / name};" for name in TEMP_DIRS)
    rule = f"{split.canary}% canary;\n        * production;" if split.canary else "* production;"
    # nginx started by root runs its workers as "nobody", who cannot reach the sockets under the user's state dir
    user = f"user {pwd.getpwuid(0).pw_name};\n" if os.geteuid() == 0 else ""
    upstreams = "".join(
        f"""    upstream {env} {{
        server unix:{env_link(state, env)} max_fails=0;
        keepalive 16;
        keepalive_timeout {UPSTREAM_KEEPALIVE};
    }}
"""
        for env in ENV_NAMES
    )
    env_servers = "".join(
        f"""    server {{  # {env}'s own port
        listen 127.0.0.1:{cfg.environments.get(env).port};
        location / {{
            proxy_pass http://{env};
{PROXY}
        }}
    }}
"""
        for env in ENV_NAMES
    )
    return (
        header(RENDERED_BY)
        + f"""{user}worker_processes 1;
pid {d / "run" / "nginx.pid"};
error_log {d / "logs" / "error.log"} warn;
events {{
    worker_connections 1024;
}}
http {{
    log_format cxops '$time_iso8601 $request_id $cxops_backend $status $request_time "$request"';
    access_log {d / "logs" / "access.log"} cxops buffer=64k flush=2s;
{temps}
    # bodies stay in memory (a worker may not be able to write the temp dirs when the master runs as root)
    client_max_body_size 16m;
    client_body_buffer_size 16m;
    proxy_max_temp_file_size 0;
{upstreams}    # the HTTPRoute's weights: production {split.production}, canary {split.canary}
    split_clients "${{request_id}}" $cxops_backend {{
        {rule}
    }}
    server {{  # the public endpoint
        listen 127.0.0.1:{cfg.lab.endpoint_port};
        location / {{
            proxy_pass http://$cxops_backend;
{PROXY}
            proxy_set_header X-Request-Id $request_id;
            add_header X-Cxops-Backend $cxops_backend always;
            add_header X-Cxops-Canary-Weight {split.canary} always;
        }}
    }}
{env_servers}}}
"""
    )


def conf_path(cfg: Config) -> Path:
    return endpoint_dir(cfg) / "nginx.conf"


def write_conf(cfg: Config, split: Split) -> bool:
    """Write the config for `split`; False when nothing changed."""
    d = endpoint_dir(cfg)
    for sub in ("run", "logs", *(f"tmp/{t}" for t in TEMP_DIRS)):
        (d / sub).mkdir(parents=True, exist_ok=True)
    return write_atomic(conf_path(cfg), render_conf(cfg, split))


def record_split(cfg: Config, split: Split) -> None:
    """Record the split nginx now serves (for `lab status`), once every worker runs the config that encodes it."""
    doc = {"production": split.production, "canary": split.canary}
    write_atomic(endpoint_dir(cfg) / "split.json", json.dumps(doc) + "\n")


def applied_split(cfg: Config) -> Split | None:
    """The split nginx serves, as recorded after its last start or completed reload; None before the first start."""
    try:
        data = json.loads((endpoint_dir(cfg) / "split.json").read_text())
        return Split(int(data["production"]), int(data["canary"]))
    except (OSError, ValueError, KeyError):
        return None


def _argv(cfg: Config, *extra: str) -> list[str]:
    d = endpoint_dir(cfg)
    return [nginx_binary(), "-p", str(d), "-c", str(conf_path(cfg)), "-e", str(d / "logs" / "error.log"), *extra]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start(cfg: Config) -> int:
    """Write the config from git, test it, start nginx in the foreground and wait until it listens on the endpoint
    and every env port; returns the PID."""
    split = split_from_git(cfg)
    write_conf(cfg, split)
    test = subprocess.run(_argv(cfg, "-t", "-q"), capture_output=True, text=True, timeout=30)
    if test.returncode != 0:
        raise CxopsError(f"nginx rejected {conf_path(cfg)}: {(test.stderr or test.stdout).strip()[-300:]}")
    proc = endpoint_process(cfg)
    pid = proc.start(_argv(cfg, "-g", "daemon off;"))

    ports = [cfg.lab.endpoint_port, *(cfg.environments.get(e).port for e in ENV_NAMES)]

    def up() -> bool:
        if proc.pid() is None:
            raise CxopsError(f"nginx exited during start-up: {proc.tail()} (see {endpoint_dir(cfg) / 'logs'})")
        return all(listening(p) for p in ports)

    try:
        wait_until(up, timeout=cfg.lab.ready_timeout_seconds, what=f"nginx on ports {ports}", first=0.05)
    except CxopsError:
        proc.stop(grace=5)
        raise
    record_split(cfg, split)
    return pid


def workers(master: int) -> set[int]:
    """PIDs of the nginx master's child processes (its workers), from Linux's /proc/PID/task/PID/children."""
    try:
        return {int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()}
    except OSError:
        return set()


def sync(cfg: Config) -> Split | None:
    """Follow git: rewrite the config when the HTTPRoute's split changed and reload nginx gracefully (SIGHUP).

    Returns the new split when it changed, else None, once the reload has completed: the old workers have exited
    (each finishes its in-flight requests and closes its idle keep-alive connections first), so no connection opened
    afterwards can reach a worker with the old weights. Raises ValueError on a route it cannot read (the running
    config is kept) and CxopsError when the old workers outlive `lab.ready_timeout_seconds`."""
    split = split_from_git(cfg)
    if not write_conf(cfg, split):
        return None
    pid = endpoint_process(cfg).pid()
    if pid is not None:
        old = workers(pid)
        os.kill(pid, signal.SIGHUP)
        wait_until(
            lambda: bool(workers(pid)) and not workers(pid) & old,
            timeout=cfg.lab.ready_timeout_seconds,
            what="nginx's old workers to finish (graceful reload)",
            first=0.02,
            cap=0.5,
        )
    record_split(cfg, split)
    return split


def stop(cfg: Config) -> bool:
    return endpoint_process(cfg).stop(grace=10)
