"""The lab's stand-in for ArgoCD: watch the GitOps remote, run one model server per env as git says.

Runs as a background process (`cxops lab up` starts it). Each env's server serves the BUILD directory of the
model and version its overlay names (`.cxops/builds/<model>/<version>/context`, and only if its model digest is the
overlay's MODEL_DIGEST); the record keeps "<model>/<version>" refs, so another model's version of the same number
is a different thing to serve. A change in git swaps servers without dropping a request, as a Deployment's rolling
update with maxUnavailable 0 does: the new version's server starts on a Unix socket of its own and says when it is
ready (a line on an inherited pipe, no polling); only then is the env's socket link repointed at it
(cxops.lab.sockets: nginx, listening on the env's port, connects through that link), and the old server is
stopped gracefully (it finishes in-flight requests; nginx retries a request whose pooled connection the old
server closed on a new connection, which reaches the new server). A new server that is not ready never gets
traffic: the old one keeps serving and the failure is recorded (`start_failure`) for the deploy waiting on it.
When an env serves a version the next env does not, a standby server of that version is started for the next env,
and a new build gets a standby in the first env (`prepare_standbys`), so that a deploy or promotion only repoints
the link: start-up is paid while the gate runs or the commit is pushed, not after.
A crashed server is restarted a bounded number of times per version (then left down, which `cxops status`
reports). The lab's endpoint (nginx) is reloaded when git's traffic split changes, and after every change of git
the registry is made to follow it (`cxops reconcile`, run once live serves what git asks for). A push to the lab's
remote wakes the controller at once (its post-receive hook sends SIGUSR1); it also polls, for crashed servers. The
controller also answers the remote's pre-receive check (cxops.gitops.hook_service).
"""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cxops.builds import builds_dir
from cxops.config import ENV_NAMES, Config, load_config
from cxops.errors import CxopsError
from cxops.gitops.bare_remote import bare_path, read_file_at_head
from cxops.gitops.overlay import Desired, desired_from_text
from cxops.gitops.repo import git
from cxops.gitops.state import overlay_path
from cxops.lab import endpoint, sockets
from cxops.lab.follow import RegistryFollower
from cxops.paths import state_dir
from cxops.processes import ManagedProcess, stop_pid
from cxops.serving.manifest import model_digest

POLL_SECONDS = 0.3  # for crashed servers; a push wakes the controller at once
MAX_RESTARTS = 3
STOP_GRACE_SECONDS = 10  # an old server's in-flight requests finish well within this
# A standby not promoted within this long is stopped (and not started again for that version): the version
# stopped at a gate, and its server would only hold memory.
STANDBY_SECONDS = 180


def server_process(state: Path, env: str) -> ManagedProcess:
    """The server that serves `env` (its socket is where the env's link points)."""
    return ManagedProcess(f"serve-{env}", state / "envs")


def pending_process(state: Path, env: str) -> ManagedProcess:
    """A new server of `env` while it starts, before it takes the env's traffic."""
    return ManagedProcess(f"serve-{env}-next", state / "envs")


def standby_process(state: Path, env: str) -> ManagedProcess:
    """A ready server of `env` on the version the previous environment serves, waiting for its promotion."""
    return ManagedProcess(f"serve-{env}-standby", state / "envs")


def server_argv(cfg: Config, build: Path, env: str, uds: Path, ready_fd: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cxops.serving",
        "--model-dir",
        str(build),
        "--uds",
        str(uds),
        "--ready-fd",
        str(ready_fd),
        "--env",
        env,
        "--max-batch",
        str(cfg.serving.max_batch),
        "--direct-path" if cfg.serving.direct_path else "--no-direct-path",
        *cfg.batching(env).settings().argv(),
        *cfg.serving.request_limits().argv(),  # last: tests read the limits from the end
    ]


def wait_ready(fd: int, proc: ManagedProcess, timeout: float) -> str:
    """Block until the server writes its readiness line on pipe `fd` (or closes it by exiting), at most `timeout`
    seconds. Returns "" when it is ready, else why not (its reason, its log's tail, or the timeout)."""
    data = b""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([fd], [], [], left)
        if not readable:
            break
        chunk = os.read(fd, 4096)
        if not chunk:  # closed: either after the line, or by the process exiting
            break
        data += chunk
    if not data.strip():
        alive = proc.pid() is not None
        return f"not ready after {timeout:g}s" if alive else f"exited during start-up: {proc.tail() or 'no output'}"
    try:
        doc = json.loads(data.decode().splitlines()[0])
    except (ValueError, IndexError):
        return f"unreadable readiness line {data[:200]!r}"
    return "" if doc.get("ready") else str(doc.get("reason") or "not ready")


def newest_build(state: Path, name: str) -> str | None:
    """The highest version of model `name` with a complete build (builds are renamed into place whole), or None."""
    root = builds_dir(state) / name
    versions = [int(p.name) for p in root.glob("*") if p.name.isdigit() and (p / "context").is_dir()]
    return str(max(versions)) if versions else None


def _version_of(ref: str | None, name: str) -> int | None:
    """The version number of `ref` ("<model>/<version>") when it is of model `name`, else None."""
    model, _, version = (ref or "").rpartition("/")
    return int(version) if model == name and version.isdigit() else None


@dataclass
class EnvRecord:
    """What the controller did for one env, kept in envs/running.json (the lab's deploy reads why a start failed)."""

    version: str | None = None  # the ref ("<model>/<version>") served; None: nothing
    desired: str | None = None  # the ref git asks for
    attempts: int = 0  # starts of `desired`, crashes included (at most MAX_RESTARTS + 1)
    failed: str = ""  # why the last start failed ("" after a success)
    failed_at: float = 0.0  # when it failed (epoch seconds)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> EnvRecord:
        """A record as saved; a file written before the field was named `desired` calls it `wanted`."""
        return cls(
            version=doc.get("version"),
            desired=doc.get("desired", doc.get("wanted")),
            attempts=int(doc.get("attempts", 0)),
            failed=str(doc.get("failed") or ""),
            failed_at=float(doc.get("failed_at", 0)),
        )


@dataclass(frozen=True)
class Standby:
    """A ready server of an env's likely next version, waiting to be swapped in."""

    version: str  # the ref it serves
    uds: Path  # its socket
    since: float  # time.monotonic() when it became ready


def _load_records(path: Path) -> dict[str, EnvRecord]:
    """envs/running.json as records; {} when it is missing or unreadable."""
    try:
        return {env: EnvRecord.from_json(doc) for env, doc in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def start_failure(state: Path, env: str, ref: str, since: float) -> str | None:
    """Why the controller's last attempt to start `ref` ("<model>/<version>") in `env` failed, if it failed after
    `since` (epoch seconds); None otherwise. The lab's deploy reads it to fail at once instead of waiting out its
    timeout."""
    rec = _load_records(state / "envs" / "running.json").get(env, EnvRecord())
    if rec.desired == ref and rec.failed and rec.failed_at >= since:
        return rec.failed
    return None


class Controller:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.state = state_dir(cfg)
        self.bare = bare_path(self.state)
        self.record = self.state / "envs" / "running.json"
        self.running: dict[str, EnvRecord] = _load_records(self.record)
        self.follower = RegistryFollower(cfg, self.state / "envs")
        self.seen: tuple[str | None, dict[str, Desired]] = (None, {})  # branch head and what it asks for
        self.standby: dict[str, Standby] = {}  # env -> its ready standby server
        self.declined: set[tuple[str, str]] = set()  # (env, version) standbys already tried

    def _save_record(self) -> None:
        self.record.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps({env: asdict(rec) for env, rec in self.running.items()}, indent=2))
        tmp.replace(self.record)

    def desired_states(self) -> dict[str, Desired]:
        out = {}
        for env in ENV_NAMES:
            text = read_file_at_head(self.bare, self.cfg.gitops.branch, f"{overlay_path(self.cfg, env)}/model.env")
            out[env] = desired_from_text(env, text)
        return out

    def reconcile_env(self, env: str, want: Desired) -> None:
        """Make `env` serve what `want` names (no version: nothing). Record per env: the ref ("<model>/<version>")
        served, the ref desired, the attempts to start it (at most MAX_RESTARTS + 1, crashes included) and the last
        failure. A build whose model digest is not the overlay's is never started (the failure says why)."""
        version = want.ref
        rec = self.running.get(env, EnvRecord())
        alive = server_process(self.state, env).pid() is not None
        if rec.desired != version:
            rec = EnvRecord(version=rec.version, desired=version)
            self.running[env] = rec
            self._save_record()
        if rec.version == version and (alive or version is None):
            return
        if version is None:
            self.stop_server(env)
            rec.version = None
            self._save_record()
            return
        if rec.attempts > MAX_RESTARTS:
            return  # crash loop or never ready: leave it; `cxops status` shows the disagreement
        build = builds_dir(self.state) / str(version) / "context"
        if not build.is_dir():  # no build yet: try again next tick, it may still be coming
            return
        rec.attempts += 1
        started = time.monotonic()
        found = model_digest(build)
        if want.digest is not None and found != want.digest:
            problem = f"the build of {want.label()} has model digest {found}, git asks for {want.digest}"
        else:
            problem = self.start_server(env, build, str(version))
        if problem:
            rec.failed, rec.failed_at = problem, time.time()
            print(f"controller: {env} {version} not started: {problem}", file=sys.stderr, flush=True)
        else:
            rec.version, rec.failed = version, ""
            print(
                f"controller: {env} serves {version} ({time.monotonic() - started:.2f} s to ready and swapped)",
                file=sys.stderr,
                flush=True,
            )
        self._save_record()

    # Server start/stop in one place each: how a version is swapped is decided here.
    def start_server(self, env: str, build: Path, version: str) -> str:
        """Make a ready server of `env` on `build` take the env's traffic, then stop the one it replaces: the
        standby if it holds `version`, else a new one once it is ready. Returns "" on success, else why it is not
        serving (the old server, if any, still is)."""
        standby = self.standby.pop(env, None)
        proc = standby_process(self.state, env)
        if standby is not None and standby.version == version and proc.pid() is not None:
            self._swap(env, proc, standby.uds)
            return ""
        self.drop_standby(env, standby)
        pending = pending_process(self.state, env)
        problem, uds = self._launch(env, build, pending)
        if not problem:
            self._swap(env, pending, uds)
        return problem

    def _launch(self, env: str, build: Path, proc: ManagedProcess) -> tuple[str, Path]:
        """Start `proc` serving `build` for `env` on a fresh socket and wait until it says it is ready. Returns
        ("", socket) when it is; else (why not, socket) with the process stopped."""
        proc.stop(grace=5)  # a leftover of an interrupted start
        uds = sockets.fresh_socket(self.state, env)
        read_fd, write_fd = os.pipe()
        try:
            try:
                proc.start(
                    server_argv(self.cfg, build, env, uds, write_fd), env={"CXOPS_ENV": env}, pass_fds=(write_fd,)
                )
            finally:
                os.close(write_fd)  # the child holds it now; EOF on read_fd means it wrote or exited
            problem = wait_ready(read_fd, proc, self.cfg.lab.ready_timeout_seconds)
        finally:
            os.close(read_fd)
        if problem:
            proc.stop(grace=5)
            uds.unlink(missing_ok=True)
        return problem, uds

    def _swap(self, env: str, ready: ManagedProcess, uds: Path) -> None:
        """Point `env` at the ready server `ready` (listening on `uds`), then drain and stop the old one."""
        active = server_process(self.state, env)
        old_pid, old_uds = active.pid(), sockets.current_target(self.state, env)
        sockets.point(self.state, env, uds)  # new connections now reach the new server
        ready.pid_file.replace(active.pid_file)
        if old_pid is not None:
            stop_pid(old_pid, f"{env}'s previous server", STOP_GRACE_SECONDS)
        if old_uds is not None and old_uds != uds:
            old_uds.unlink(missing_ok=True)

    def standby_candidates(self, desired: dict[str, Desired]) -> dict[str, str | None]:
        """Per env, the ref ("<model>/<version>") its next move most likely brings (None: none expected): for the
        first env (staging), the newest build of the model git names there, newer than what it serves or is asked
        to serve (a build is what a deploy follows); for each later env, what the env before it serves, when this
        one is not asked for it."""
        out: dict[str, str | None] = {}
        first = ENV_NAMES[0]
        model = desired[first].name if first in desired else None
        out[first] = None
        if model:
            served = (self.running[first].version if first in self.running else None, desired[first].ref)
            mine = [v for v in (_version_of(ref, model) for ref in served) if v is not None]
            newest = newest_build(self.state, model)
            if newest is not None and all(int(newest) > v for v in mine):
                out[first] = f"{model}/{newest}"
        for before, env in itertools.pairwise(ENV_NAMES):
            rec = self.running.get(before, EnvRecord())
            candidate = rec.version if server_process(self.state, before).pid() is not None else None
            asked = desired[env].ref if env in desired else None
            out[env] = None if candidate is None or candidate == asked else str(candidate)
        return out

    def prepare_standbys(self, desired: dict[str, Desired]) -> None:
        """Have a ready server of each env's next version waiting (`standby_candidates`), so that the deploy or
        promotion only repoints the socket. A standby that is no longer the candidate, or is older than
        STANDBY_SECONDS, is stopped."""
        for env, candidate in self.standby_candidates(desired).items():
            current = self.standby.get(env)
            if current is not None and (
                current.version != candidate or time.monotonic() - current.since > STANDBY_SECONDS
            ):
                self.declined.add((env, current.version))
                self.drop_standby(env, self.standby.pop(env))
                current = None
            if candidate is None or current is not None or (env, candidate) in self.declined:
                continue
            build = builds_dir(self.state) / str(candidate) / "context"
            if not build.is_dir():
                continue
            self.declined.add((env, candidate))  # one standby per (env, version): not again if this one fails
            problem, uds = self._launch(env, build, standby_process(self.state, env))
            if problem:
                print(f"controller: standby {env} {candidate} not started: {problem}", file=sys.stderr, flush=True)
                continue
            self.standby[env] = Standby(candidate, uds, time.monotonic())
            print(f"controller: standby {env} {candidate} ready", file=sys.stderr, flush=True)

    def drop_standby(self, env: str, standby: Standby | None) -> None:
        standby_process(self.state, env).stop(grace=5)
        if standby is not None:
            standby.uds.unlink(missing_ok=True)

    def stop_server(self, env: str) -> bool:
        """Stop `env`'s servers (by PID) and unlink its sockets; True if one was running."""
        target = sockets.current_target(self.state, env)
        sockets.point(self.state, env, None)
        stopped = pending_process(self.state, env).stop(grace=5)
        self.drop_standby(env, self.standby.pop(env, None))
        stopped = server_process(self.state, env).stop(grace=5) or stopped
        if target is not None:
            target.unlink(missing_ok=True)
        return stopped

    def tick(self) -> None:
        """One pass: servers follow git, the endpoint follows git's split, the registry follows live."""
        try:
            head = self.head()
            if head != self.seen[0]:  # git is read (and the endpoint synced) only when the branch moved
                desired = self.desired_states()
                self.sync_endpoint()
                self.seen = (head, desired)
            desired = self.seen[1]
            for env, want in desired.items():
                self.reconcile_env(env, want)
            self.follower.tick(head, desired)
            self.prepare_standbys(desired)
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

    def loop(self, stop: threading.Event, wake: threading.Event) -> None:
        """Tick every POLL_SECONDS, or at once when `wake` is set (a push); ends when `stop` is set (SIGTERM)."""
        while not stop.is_set():
            self.tick()
            wake.wait(POLL_SECONDS)
            wake.clear()

    def stop_all(self) -> None:
        self.follower.stop()
        for env in ENV_NAMES:
            self.stop_server(env)
        self.running = {}
        self._save_record()


def main() -> None:
    from cxops.config import config_path
    from cxops.gitops import hook_service

    cfg = load_config()
    ctl = Controller(cfg)
    stop, wake = threading.Event(), threading.Event()
    try:  # pushes to the lab's remote are checked here, without a Python start-up each (cxops.gitops.hook_service)
        hook_service.serve(ctl.state, config_path().resolve(), stop)
    except OSError as exc:  # the hook checks in-process instead
        print(f"controller: hook service not started: {exc}", file=sys.stderr, flush=True)

    def ending(*_: object) -> None:
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, ending)
    signal.signal(signal.SIGINT, ending)
    signal.signal(signal.SIGUSR1, lambda *_: wake.set())  # the remote's post-receive hook: git moved
    try:
        ctl.loop(stop, wake)
    finally:
        ctl.stop_all()
        hook_service.socket_path(ctl.state).unlink(missing_ok=True)  # hooks then check in-process


if __name__ == "__main__":
    main()
