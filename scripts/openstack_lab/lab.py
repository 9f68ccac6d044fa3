"""install / up / down / status of the local OpenStack (see scripts/openstack-lab)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from cxops.errors import CxopsError
from cxops.waiting import wait_until
from openstack_lab import procs
from openstack_lab.layout import (
    APT_PACKAGES,
    COMPUTE_HOSTS,
    DATABASES,
    HERE,
    PORTS,
    ROOTFS_RECIPE,
    SYSTEM_PYTHON,
    Layout,
)
from openstack_lab.render import render_all

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
# Nova loads drivers only from nova.virt: alias the lab's driver there, after nova.cmd has monkey-patched.
NOVA_COMPUTE = (
    "import sys; from nova.cmd.compute import main; import cxops_lab_virt; "
    "sys.modules['nova.virt.cxops_lab_virt'] = cxops_lab_virt; sys.exit(main())"
)
T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"[openstack-lab {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def run(
    argv: list[str],
    what: str,
    env: dict[str, str] | None = None,
    ok_codes: tuple[int, ...] = (0,),
    user: str | None = None,
    timeout: float = 300,
) -> str:
    """Run a set-up command; on failure raise with the tail of its output so CI logs show why."""
    full_env = {**os.environ, **(env or {})}
    try:
        res = subprocess.run(
            argv, capture_output=True, text=True, env=full_env, user=user, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        raise CxopsError(f"{what}: timed out after {timeout:g}s ({' '.join(argv[:3])} ...)") from exc
    if res.returncode not in ok_codes:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
        raise CxopsError(f"{what} failed with exit {res.returncode}:\n{tail}")
    return res.stdout


# -- install ----------------------------------------------------------------------------------------


def missing_packages() -> list[str]:
    res = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *APT_PACKAGES], capture_output=True, text=True
    )
    installed = {line.split()[0] for line in res.stdout.splitlines() if line.endswith(" installed")}
    return [p for p in APT_PACKAGES if p not in installed]


def install() -> None:
    missing = missing_packages()
    if not missing:
        say("all packages are installed")
        return
    say(f"installing {len(missing)} packages: {' '.join(missing)}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    try:
        run(cmd, "apt-get install", env=env, timeout=900)
    except CxopsError:
        # a stale or absent package list is the usual cause: refresh once, then try once more
        run(["apt-get", "update", "-q"], "apt-get update", env=env, timeout=300)
        run(cmd, "apt-get install", env=env, timeout=900)
    say("packages installed")


# -- backing services ---------------------------------------------------------------------------------


def start_postgres(layout: Layout) -> None:
    pgdata = layout.pgdata
    sock = layout.state / "pg-socket"
    for d in (pgdata, sock):
        d.mkdir(parents=True, exist_ok=True)
        shutil.chown(d, "postgres", "postgres")
    pgdata.chmod(0o700)
    # postgres refuses to run as root: it runs as Debian's postgres user, so the state dir must be reachable
    for parent in [layout.state, *layout.state.parents]:
        if parent.stat().st_mode & 0o001 == 0:
            parent.chmod(parent.stat().st_mode | 0o001)
    if not (pgdata / "PG_VERSION").exists():
        run(
            [str(PG_BIN / "initdb"), "-D", str(pgdata), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
            "initdb",
            user="postgres",
        )
    procs.start(
        layout,
        "postgres",
        [
            str(PG_BIN / "postgres"),
            "-D",
            str(pgdata),
            "-c",
            "listen_addresses=127.0.0.1",
            "-p",
            str(PORTS["postgres"]),
            "-c",
            "max_connections=300",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            f"unix_socket_directories={sock}",
        ],
        user="postgres",
    )
    psql = [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(PORTS["postgres"]), "-U", "postgres", "-tA"]
    wait_until(
        lambda: subprocess.run([*psql, "-c", "select 1"], capture_output=True).returncode == 0,
        timeout=60,
        what="PostgreSQL to accept connections",
    )
    have = set(run([*psql, "-c", "select datname from pg_database"], "list databases").split())
    for db in DATABASES:
        if db not in have:
            run([*psql, "-c", f"create database {db}"], f"create database {db}")


def rabbit_env(layout: Layout) -> dict[str, str]:
    r = layout.rabbit
    erl = "-kernel inet_dist_use_interface {127,0,0,1}"
    return {
        "HOME": str(r / "home"),
        "RABBITMQ_NODENAME": "rabbit@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(PORTS["rabbit"]),
        "RABBITMQ_DIST_PORT": str(PORTS["rabbit_dist"]),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(PORTS["epmd"]),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": erl,
        "RABBITMQ_CTL_ERL_ARGS": erl,
        "RABBITMQ_MNESIA_BASE": str(r / "mnesia"),
        "RABBITMQ_LOG_BASE": str(r / "log"),
        "RABBITMQ_PID_FILE": str(r / "rabbit.pid"),
        "RABBITMQ_CONFIG_FILE": str(r / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(r / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(r / "rabbitmq-env.conf"),
        "RABBITMQ_LOGS": "-",
    }


def start_rabbit(layout: Layout) -> None:
    r = layout.rabbit
    for d in ("home", "mnesia", "log"):
        (r / d).mkdir(parents=True, exist_ok=True)
    (r / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{PORTS['rabbit']}\n")
    (r / "enabled_plugins").write_text("[].\n")
    (r / "rabbitmq-env.conf").write_text("")
    env = rabbit_env(layout)
    # our own epmd in the foreground, so it is ours to stop (rabbit would otherwise daemonize one)
    procs.start(layout, "epmd", ["epmd", "-address", "127.0.0.1", "-port", str(PORTS["epmd"])], env=env)
    wait_until(lambda: procs.port_open(PORTS["epmd"]), timeout=20, what="epmd")
    procs.start(layout, "rabbitmq", [str(RABBIT_BIN / "rabbitmq-server")], env=env)


def configure_rabbit(layout: Layout) -> None:
    env = rabbit_env(layout)
    ctl = [str(RABBIT_BIN / "rabbitmqctl"), "-n", "rabbit@localhost"]
    wait_until(lambda: procs.port_open(PORTS["rabbit"]), timeout=90, what="RabbitMQ to listen")
    run([*ctl, "await_startup", "--timeout", "60"], "rabbitmqctl await_startup", env=env)
    run([*ctl, "add_user", "lab", layout.secrets["rabbit"]], "rabbitmq add_user", env=env, ok_codes=(0, 70))
    run([*ctl, "change_password", "lab", layout.secrets["rabbit"]], "rabbitmq change_password", env=env)
    run([*ctl, "set_permissions", "-p", "/", "lab", ".*", ".*", ".*"], "rabbitmq set_permissions", env=env)


# -- OpenStack services -----------------------------------------------------------------------------


def db_sync_steps(layout: Layout) -> dict[str, list[list[str]]]:
    e = layout.etc
    nova = ["nova-manage", "--config-file", str(e / "nova/nova.conf")]
    ks = ["keystone-manage", "--config-file", str(e / "keystone/keystone.conf")]
    url = f"http://127.0.0.1:{PORTS['keystone']}/v3/"
    return {
        "keystone": [
            [*ks, "db_sync"],
            [*ks, "fernet_setup", "--keystone-user", "root", "--keystone-group", "root"],
            [*ks, "credential_setup", "--keystone-user", "root", "--keystone-group", "root"],
            [
                *ks,
                "bootstrap",
                # one argv element: a value starting with "-" would otherwise read as an option
                f"--bootstrap-password={layout.secrets['admin']}",
                "--bootstrap-admin-url",
                url,
                "--bootstrap-internal-url",
                url,
                "--bootstrap-public-url",
                url,
                "--bootstrap-region-id",
                "RegionOne",
            ],
        ],
        "placement": [["placement-manage", "--config-file", str(e / "placement/placement.conf"), "db", "sync"]],
        "glance": [["glance-manage", "--config-file", str(e / "glance/glance-api.conf"), "db_sync"]],
        "neutron": [
            [
                "neutron-db-manage",
                "--config-file",
                str(e / "neutron/neutron.conf"),
                "--config-file",
                str(e / "neutron/ml2_conf.ini"),
                "upgrade",
                "heads",
            ]
        ],
        # Octavia's migrations are MySQL-only: the lab builds its tables from its models (octavia_schema.py)
        "octavia": [[SYSTEM_PYTHON, str(HERE / "octavia_schema.py"), str(e / "octavia/octavia.conf")]],
        "cinder": [["cinder-manage", "--config-file", str(e / "cinder/cinder.conf"), "db", "sync"]],
        "nova": [
            [*nova, "api_db", "sync"],
            [*nova, "cell_v2", "map_cell0", "--database_connection", f"{layout.db_url()}/nova_cell0"],
            [*nova, "cell_v2", "create_cell", "--name", "cell1", "--verbose"],
            [*nova, "db", "sync"],
        ],
    }


SWIFT_SERVERS = ("proxy", "account", "container", "object")


def swift_rings(layout: Layout) -> str:
    """One ring per Swift server kind (one device, one replica), built once into etc/swift."""
    for kind, port in (("account", "swift_account"), ("container", "swift_container"), ("object", "swift_object")):
        builder = layout.etc / "swift" / f"{kind}.builder"
        if (layout.etc / "swift" / f"{kind}.ring.gz").exists():
            continue
        run(["swift-ring-builder", str(builder), "create", "8", "1", "1"], f"swift {kind} ring")
        run(["swift-ring-builder", str(builder), "add", f"r1z1-127.0.0.1:{PORTS[port]}/d1", "100"], f"{kind} device")
        # exit 1 is "rebalanced with warnings" (one device cannot satisfy dispersion): expected here
        run(["swift-ring-builder", str(builder), "rebalance"], f"swift {kind} rebalance", ok_codes=(0, 1))
    return "swift"


def run_chain(name: str, steps: list[list[str]]) -> str:
    for argv in steps:
        # create_cell exits 2 when cell1 already exists: that is the idempotent case
        ok = (0, 2) if "create_cell" in argv else (0,)
        run(argv, f"{name}: {' '.join(argv[3:5])}", ok_codes=ok, timeout=300)
    return name


def start_services(layout: Layout, names: list[str]) -> None:
    e = layout.etc
    py = SYSTEM_PYTHON
    cmds = {
        "keystone": ["uwsgi", "--ini", str(e / "keystone/uwsgi.ini")],
        "placement": ["uwsgi", "--ini", str(e / "placement/uwsgi.ini")],
        "glance": ["glance-api", "--config-file", str(e / "glance/glance-api.conf")],
        "neutron": [
            "neutron-server",
            "--config-file",
            str(e / "neutron/neutron.conf"),
            "--config-file",
            str(e / "neutron/ml2_conf.ini"),
        ],
        "nova-api": ["nova-api", "--config-file", str(e / "nova/nova.conf")],
        "nova-conductor": ["nova-conductor", "--config-file", str(e / "nova/nova.conf")],
        "nova-scheduler": ["nova-scheduler", "--config-file", str(e / "nova/nova.conf")],
        "cinder-api": ["cinder-api", "--config-file", str(e / "cinder/cinder.conf")],
        "cinder-scheduler": ["cinder-scheduler", "--config-file", str(e / "cinder/cinder.conf")],
        "cinder-volume": ["cinder-volume", "--config-file", str(e / "cinder/cinder.conf")],
        "octavia-api": ["uwsgi", "--ini", str(e / "octavia/uwsgi.ini")],
        **{f"swift-{k}": [f"swift-{k}-server", str(e / f"swift/{k}-server.conf")] for k in SWIFT_SERVERS},
    }
    for host in COMPUTE_HOSTS:
        cmds[f"compute-{host}"] = [
            py,
            "-c",
            NOVA_COMPUTE,
            "--config-file",
            str(e / "nova/nova.conf"),
            "--config-file",
            str(e / f"nova/compute-{host}.conf"),
        ]
    for name in names:
        env = COMPUTE_HOSTS.get(name.removeprefix("compute-"), {}) if name.startswith("compute-") else {}
        procs.start(layout, name, cmds[name], env=env)


API_URLS = {
    "keystone": f"http://127.0.0.1:{PORTS['keystone']}/v3",
    "placement": f"http://127.0.0.1:{PORTS['placement']}/",
    "glance": f"http://127.0.0.1:{PORTS['glance']}/",
    "neutron": f"http://127.0.0.1:{PORTS['neutron']}/",
    "nova-api": f"http://127.0.0.1:{PORTS['nova']}/",
    "cinder-api": f"http://127.0.0.1:{PORTS['cinder']}/",
    "octavia-api": f"http://127.0.0.1:{PORTS['octavia']}/",
    "swift-proxy": f"http://127.0.0.1:{PORTS['swift']}/healthcheck",
}


def wait_api(name: str, timeout: float = 120) -> None:
    wait_until(lambda: procs.http_up(API_URLS[name]), timeout=timeout, what=f"{name} at {API_URLS[name]}")


def seed(layout: Layout, stage: str) -> None:
    env = {
        "PYTHONPATH": str(HERE.parent),
        "CXOPS_OPENSTACK_LAB_DIR": str(layout.state),
        "CXOPS_LAB_ROOTFS": str(layout.rootfs),
        "CXOPS_LAB_UP_SINCE": os.environ.get("CXOPS_LAB_UP_SINCE", "0"),
    }
    out = run([SYSTEM_PYTHON, "-m", "openstack_lab.seed", stage], f"seed {stage}", env=env, timeout=300)
    for line in out.splitlines():
        say(f"seed {stage}: {line}")


# -- the sandbox root ---------------------------------------------------------------------------------


def debian_mirror() -> str:
    if os.environ.get("CXOPS_LAB_DEBIAN_MIRROR"):
        return os.environ["CXOPS_LAB_DEBIAN_MIRROR"]
    for src in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in src.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    return "http://deb.debian.org/debian"


def _partial(layout: Layout) -> Path:
    """This lab's own half-built root beside the shared one: labs starting at once each build their own, and the
    first to finish moves it into place."""
    key = hashlib.sha256(str(layout.state).encode()).hexdigest()[:8]
    return layout.rootfs.with_name(f"{layout.rootfs.name}.partial-{key}")


def start_debootstrap(layout: Layout) -> subprocess.Popen | None:
    if (layout.rootfs / "usr/bin/python3").exists():
        return None
    partial = _partial(layout)
    done_log = layout.log / "debootstrap.log"
    if partial.exists() and done_log.exists() and "Base system installed successfully" in done_log.read_text():
        _into_place(layout, partial)  # finished while an earlier `up` failed elsewhere
        return None
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    layout.log.mkdir(parents=True, exist_ok=True)
    say(f"debootstrap of the sandbox root into {layout.rootfs} (once per machine)")
    suite, variant, include = ROOTFS_RECIPE
    with open(layout.log / "debootstrap.log", "wb") as log:
        return subprocess.Popen(
            ["debootstrap", f"--variant={variant}", f"--include={include}", suite, str(partial), debian_mirror()],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _into_place(layout: Layout, partial: Path) -> None:
    try:
        partial.rename(layout.rootfs)
    except OSError:  # another lab finished first: its root is the same recipe's
        if not (layout.rootfs / "usr/bin/python3").exists():
            raise
        shutil.rmtree(partial, ignore_errors=True)


def finish_debootstrap(layout: Layout, proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    try:
        rc = proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise CxopsError("debootstrap did not finish in 600s; see log/debootstrap.log") from None
    if rc != 0:
        tail = (layout.log / "debootstrap.log").read_text(errors="replace").splitlines()[-10:]
        raise CxopsError("debootstrap failed:\n" + "\n".join(tail))
    _into_place(layout, _partial(layout))
    say("sandbox root ready")


# -- commands ------------------------------------------------------------------------------------------

ALL = [
    "postgres",
    "epmd",
    "rabbitmq",
    "keystone",
    "placement",
    "glance",
    "neutron",
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    *(f"compute-{h}" for h in COMPUTE_HOSTS),
    "cinder-api",
    "cinder-scheduler",
    "cinder-volume",
    "octavia-api",
    "swift-account",
    "swift-container",
    "swift-object",
    "swift-proxy",
]


def healthy(layout: Layout) -> bool:
    rec = procs.recorded(layout)
    if any(name not in rec or not procs.alive(rec[name]) for name in ALL):
        return False
    return all(procs.http_up(url) for url in API_URLS.values()) and layout.clouds_yaml.exists()


def up(layout: Layout) -> None:
    layout.state.mkdir(parents=True, exist_ok=True)
    layout.check_port_offset()
    layout.load_secrets()
    if healthy(layout):
        say(f"already up; clouds.yaml: {layout.clouds_yaml}")
        return
    if procs.recorded(layout):
        say("stopping a partly running lab first")
        down(layout)
    if missing := missing_packages():
        raise CxopsError(f"packages missing: {' '.join(missing)}; run `scripts/openstack-lab install` first")
    busy = [f"{name}={port}" for name, port in PORTS.items() if procs.port_open(port)]
    if busy:
        raise CxopsError(f"ports already in use on 127.0.0.1: {', '.join(busy)}; stop what holds them")
    render_all(layout)
    boot = start_debootstrap(layout)
    start_postgres(layout)
    start_rabbit(layout)
    say("postgres up; rabbitmq starting; schema sync in parallel")
    steps = db_sync_steps(layout)
    keystone_steps = steps.pop("keystone")

    def keystone_and_identity() -> str:
        # the service users must exist before any service starts: nova-conductor exits on a 401
        run_chain("keystone", keystone_steps)
        start_services(layout, ["keystone"])
        wait_api("keystone", 60)
        seed(layout, "identity")
        return "keystone"

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(steps) + 3) as pool:
        futures = [pool.submit(run_chain, name, chain) for name, chain in steps.items()]
        futures.append(pool.submit(swift_rings, layout))
        futures.append(pool.submit(keystone_and_identity))
        rabbit = pool.submit(configure_rabbit, layout)
        for fut in concurrent.futures.as_completed(futures):
            say(f"ready: {fut.result()}")
        rabbit.result()
    say("rabbitmq ready")
    os.environ["CXOPS_LAB_UP_SINCE"] = str(time.time())  # seed waits for compute heartbeats newer than this
    start_services(layout, [n for n in ALL if n not in ("postgres", "epmd", "rabbitmq", "keystone")])
    for name in API_URLS:
        wait_api(name, 180)
    say("all APIs answer")
    seed(layout, "cloud")
    finish_debootstrap(layout, boot)
    say(f"up; clouds.yaml: {layout.clouds_yaml} (OS_CLIENT_CONFIG_FILE; clouds cxops-lab, cxops-lab-admin)")


def down(layout: Layout) -> None:
    # guests first (their sandboxes are process groups of their own), then services in reverse start order
    for pidfile in sorted(layout.sandboxes.glob("*/pid")) if layout.sandboxes.exists() else []:
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)
        pidfile.unlink()
    rec = procs.recorded(layout)
    order = [n for n in reversed(ALL) if n in rec] + [n for n in rec if n not in ALL]
    services = [n for n in order if n not in ("postgres", "epmd", "rabbitmq")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
        list(pool.map(lambda n: procs.stop(layout, n), services))
    for name, sig in (("rabbitmq", signal.SIGTERM), ("epmd", signal.SIGTERM), ("postgres", signal.SIGINT)):
        if name in rec:
            procs.stop(layout, name, sig=sig, grace=20)
    say("down")


def status(layout: Layout) -> int:
    rec = procs.recorded(layout)
    bad = 0
    for name in ALL:
        r = rec.get(name)
        state = "running" if r and procs.alive(r) else "stopped"
        extra = ""
        if name in API_URLS and state == "running":
            extra = "answering" if procs.http_up(API_URLS[name]) else "NOT answering"
        bad += state != "running" or extra == "NOT answering"
        print(f"{name:24} {state:8} {('pid ' + str(r['pid'])) if r else '':12} {extra}")
    print(f"clouds.yaml: {layout.clouds_yaml}{'' if layout.clouds_yaml.exists() else ' (not written)'}")
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    usage = "usage: openstack-lab install|up|down|status|env"
    if len(argv) != 1 or argv[0] not in ("install", "up", "down", "status", "env"):
        print(usage, file=sys.stderr)
        return 2
    layout = Layout.from_env()
    cmd = argv[0]
    try:
        if cmd == "install":
            install()
        elif cmd == "up":
            up(layout)
        elif cmd == "down":
            down(layout)
        elif cmd == "status":
            return status(layout)
        else:
            print(f"export OS_CLIENT_CONFIG_FILE={layout.clouds_yaml}\nexport OS_CLOUD=cxops-lab")
    except CxopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if cmd == "up":
            print(f"(service logs: {layout.log}; `scripts/openstack-lab down` stops what started)", file=sys.stderr)
        return 1
    say(f"{cmd} done in {time.monotonic() - T0:.1f}s")
    return 0
