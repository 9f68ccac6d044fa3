"""The lab as a whole: MLflow, the GitOps remote (with its pre-receive hook), the endpoint (nginx), and the controller
that runs one server per environment."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from cxops.config import ENV_NAMES, Config, config_path
from cxops.errors import CxopsError
from cxops.gitops.bare_remote import bare_path, ensure_bare_remote
from cxops.lab import endpoint, sockets
from cxops.lab.controller import pending_process, server_process, standby_process
from cxops.paths import state_dir
from cxops.processes import ManagedProcess, port_is_free
from cxops.registry.mlflow_server import MlflowLab
from cxops.release.live import env_url, live


def controller_process(cfg: Config) -> ManagedProcess:
    return ManagedProcess("controller", state_dir(cfg) / "envs")


def lab_up(cfg: Config) -> Iterator[str]:
    state = state_dir(cfg)
    controller = controller_process(cfg)
    if endpoint.endpoint_process(cfg).pid() is None:  # check every port before starting anything: nothing half-up
        for env in ENV_NAMES:  # nginx listens on each env's port (the servers behind it on Unix sockets)
            port = cfg.environments.get(env).port
            sockets.env_link(state, env)  # a state path too long for a Unix socket: say so now
            if not port_is_free(port):
                raise CxopsError(
                    f"port {port} for {env} is in use by another process; "
                    f"set environments.{env}.port in cxops.yaml to a free port"
                )
        endpoint.nginx_binary()  # missing nginx: say so before anything starts
        if not port_is_free(cfg.lab.endpoint_port):
            raise CxopsError(
                f"port {cfg.lab.endpoint_port} for the lab endpoint is in use by another process; "
                "set lab.endpoint_port in cxops.yaml to a free port"
            )
    mlflow = MlflowLab.from_config(cfg)
    pid, started = mlflow.up()
    yield f"MLflow {'started' if started else 'already running'} at {mlflow.url} (pid {pid})"
    bare, created = ensure_bare_remote(state, cfg.gitops.branch)
    yield f"GitOps remote {'created' if created else 'present'} at {bare} (pre-receive hook: promotion rules)"
    nginx = endpoint.endpoint_process(cfg).pid()
    if nginx is None:
        pid = endpoint.start(cfg)
        split = endpoint.applied_split(cfg) or endpoint.Split(100, 0)
        yield (
            f"endpoint (nginx) started at {endpoint.endpoint_url(cfg)} (pid {pid}): production "
            f"{split.production}% · canary {split.canary}%, as git's HTTPRoute says"
        )
    else:
        yield f"endpoint (nginx) already running at {endpoint.endpoint_url(cfg)} (pid {nginx})"
    running = controller.pid()
    if running is None:
        pid = controller.start(
            [sys.executable, "-m", "cxops.lab.controller"], env={"CXOPS_CONFIG": str(config_path().resolve())}
        )
        yield f"env controller started (pid {pid}); servers follow git on ports " + ", ".join(
            f"{e}={cfg.environments.get(e).port}" for e in ENV_NAMES
        )
    else:
        yield f"env controller already running (pid {running})"


def lab_down(cfg: Config) -> Iterator[str]:
    state = state_dir(cfg)
    controller = controller_process(cfg)
    yield "env controller stopped" if controller.stop() else "env controller was not running"
    for env in ENV_NAMES:  # normally the controller stops them; this covers a controller that was SIGKILLed
        standby = standby_process(state, env).stop(grace=5)
        if pending_process(state, env).stop(grace=5) | server_process(state, env).stop(grace=5) | standby:
            yield f"{env} server stopped"
        sockets.point(state, env, None)
    for leftover in sockets.socket_dir(state).glob("*.sock"):  # servers' sockets (they are stopped)
        leftover.unlink(missing_ok=True)
    yield "endpoint (nginx) stopped" if endpoint.stop(cfg) else "endpoint (nginx) was not running"
    mlflow = MlflowLab.from_config(cfg)
    yield "MLflow stopped" if mlflow.down() else "MLflow was not running"


def lab_status(cfg: Config) -> list[dict[str, object]]:
    state = state_dir(cfg)
    mlflow = MlflowLab.from_config(cfg)
    pid = mlflow.process.pid()
    rows: list[dict[str, object]] = [
        {
            "service": "mlflow",
            "url": mlflow.url,
            "pid": pid,
            "health": "ok" if mlflow.healthy() else ("starting/unhealthy" if pid else "stopped"),
        }
    ]
    bare = bare_path(state)
    rows.append(
        {
            "service": "gitops-remote",
            "url": str(bare),
            "pid": None,
            "health": "ok" if (bare / "HEAD").exists() else "absent",
        }
    )
    cpid = controller_process(cfg).pid()
    rows.append({"service": "env-controller", "url": "", "pid": cpid, "health": "ok" if cpid else "stopped"})
    epid = endpoint.endpoint_process(cfg).pid()
    split = endpoint.applied_split(cfg)
    health = "stopped"
    if epid is not None:
        listening = endpoint.listening(cfg.lab.endpoint_port)
        health = (
            f"ok · production {split.production}% · canary {split.canary}%" if listening and split else "not listening"
        )
    rows.append({"service": "endpoint", "url": endpoint.endpoint_url(cfg), "pid": epid, "health": health})
    for env in ENV_NAMES:
        now = live(cfg, env)
        health = f"v{now.version} {'ready' if now.ready else 'NOT READY'}" if now.reachable else "down"
        rows.append(
            {
                "service": f"server-{env}",
                "url": env_url(cfg, env),
                "pid": server_process(state, env).pid(),
                "health": health,
            }
        )
    return rows
