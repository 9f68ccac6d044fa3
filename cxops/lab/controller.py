"""The lab's stand-in for ArgoCD: watch the GitOps remote, run one model server per env as git says.

Runs as a background process (`cxops lab up` starts it). Each env's server serves the BUILD directory of the
version its overlay names; a change in git restarts that env's server, a crashed server is restarted a bounded
number of times per version (then left down, which `cxops status` reports). The lab's endpoint (nginx) is reloaded
when git's traffic split changes, and after every change of git the registry is made to follow it (`cxops
reconcile`, run once live serves what git asks for).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from cxops.config import ENV_NAMES, Config, load_config
from cxops.errors import CxopsError
from cxops.gitops.overlay import desired_from_text
from cxops.gitops.repo import git
from cxops.gitops.state import overlay_path
from cxops.lab import endpoint
from cxops.lab.follow import RegistryFollower
from cxops.lab.gitops_remote import bare_path, read_file_at_head
from cxops.lab.process import ManagedProcess
from cxops.paths import state_dir
from cxops.pipeline.build import builds_dir

POLL_SECONDS = 0.3
MAX_RESTARTS = 3


def server_process(state: Path, env: str) -> ManagedProcess:
    return ManagedProcess(f"serve-{env}", state / "envs")


def server_argv(cfg: Config, build: Path, env: str) -> list[str]:
    port = cfg.environments.get(env).port
    return [
        sys.executable,
        "-m",
        "cxops.serving",
        "--model-dir",
        str(build),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--env",
        env,
        "--max-batch",
        str(cfg.serving.max_batch),
    ]


class Controller:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.state = state_dir(cfg)
        self.bare = bare_path(self.state)
        self.record = self.state / "envs" / "running.json"
        self.running: dict[str, dict] = self._load_record()
        self.follower = RegistryFollower(cfg, self.state / "envs")
        self.seen: tuple[str | None, dict[str, str | None]] = (None, {})  # branch head and what it asks for

    def _load_record(self) -> dict[str, dict]:
        try:
            return json.loads(self.record.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _save_record(self) -> None:
        self.record.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.running, indent=2))
        tmp.replace(self.record)

    def desired_versions(self) -> dict[str, str | None]:
        out = {}
        for env in ENV_NAMES:
            text = read_file_at_head(self.bare, self.cfg.gitops.branch, f"{overlay_path(self.cfg, env)}/model.env")
            out[env] = desired_from_text(env, text).version
        return out

    def reconcile_env(self, env: str, version: str | None) -> None:
        proc = server_process(self.state, env)
        current = self.running.get(env, {})
        alive = proc.pid() is not None
        same = current.get("version") == version
        if same and (alive or version is None):
            return
        if same and current.get("starts", 0) > MAX_RESTARTS:
            return  # crash loop: leave it down; `cxops status` shows the disagreement
        if not same:
            current = {"version": version, "starts": 0}
            self.stop_server(env)
        build = builds_dir(self.state) / str(version) / "context"
        if version is not None and build.is_dir():  # no build yet: try again next tick, it may still be coming
            self.start_server(env, build)
            current["starts"] = current.get("starts", 0) + 1
        self.running[env] = current
        self._save_record()

    # Server start/stop in one place each, so how a version is swapped (e.g. start-new-then-stop-old) changes here.
    def start_server(self, env: str, build: Path) -> int:
        """Start `env`'s server on the build directory; returns its PID."""
        return server_process(self.state, env).start(server_argv(self.cfg, build, env), env={"CXOPS_ENV": env})

    def stop_server(self, env: str) -> bool:
        """Stop `env`'s server (by PID); True if one was running."""
        return server_process(self.state, env).stop(grace=5)

    def tick(self) -> None:
        """One pass: servers follow git, the endpoint follows git's split, the registry follows live."""
        try:
            head = self.head()
            if head != self.seen[0]:  # git is read (and the endpoint synced) only when the branch moved
                desired = self.desired_versions()
                self.sync_endpoint()
                self.seen = (head, desired)
            desired = self.seen[1]
            for env, version in desired.items():
                self.reconcile_env(env, version)
            self.follower.tick(head, desired)
        except (CxopsError, ValueError, OSError) as exc:  # e.g. git briefly unreadable mid-push: next tick
            print(f"controller: {exc}", file=sys.stderr, flush=True)

    def head(self) -> str:
        return git(f"--git-dir={self.bare}", "rev-parse", f"refs/heads/{self.cfg.gitops.branch}")

    def sync_endpoint(self) -> None:
        split = endpoint.sync(self.cfg)
        if split is not None:
            print(
                f"controller: endpoint reloaded: production {split.production}% canary {split.canary}%",
                file=sys.stderr,
                flush=True,
            )

    def loop(self, stop: threading.Event) -> None:
        while not stop.wait(POLL_SECONDS):  # a service loop: ends on SIGTERM
            self.tick()

    def stop_all(self) -> None:
        self.follower.stop()
        for env in ENV_NAMES:
            self.stop_server(env)
        self.running = {}
        self._save_record()


def main() -> None:
    cfg = load_config()
    ctl = Controller(cfg)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        ctl.loop(stop)
    finally:
        ctl.stop_all()


if __name__ == "__main__":
    main()
