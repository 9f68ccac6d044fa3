"""The cluster install (ansible/, `cxops cluster ...`), run for real where anything can run here.

Real: ansible-lint (production profile, offline) and `--syntax-check` of the playbooks; the node-preparation,
data-volume and secret-generation parts of the install, driven by `cxops cluster install` over real SSH to three
Debian hosts (debootstrap roots in network namespaces, tests/cluster/hostlab.py) reached through a jump host with the
generated ssh_config's ProxyJump entries; a loop device as the Cinder data volume; run twice, the second run must
change nothing. `cxops cluster kubeconfig` fetches a file through the same jump host.

Not runnable here, and why: Kubespray itself and every task tagged `needs_systemd` (PID 1 is not systemd in the
namespaces), `needs_k8s` (here: no API server; test_gitops_bootstrap.py runs them against a real one) and
`needs_host_kernel` (the hosts share this machine's kernel, whose global settings a test must not change): those are
skipped with --skip-tags, and the Kubespray stage is checked by lint and by the variables it reads. The admin
kubeconfig the kubeconfig test fetches is a stand-in file written where Kubespray writes the real one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.cluster import hostlab
from tests.cluster.hostlab import HostLab, run
from tests.helpers import REPO, cli, make_project

ANSIBLE = REPO / "ansible"
CACHE = hostlab.cache_dir()
# Building the Debian root on a fresh machine (1-3 min) counts towards the first install test's timeout.
pytestmark = pytest.mark.timeout(1800)
KUBESPRAY_COMMIT = "1c9add48975060f45396b34d8e022c30d7f80dab"  # tag v2.31.0
SKIP = "needs_systemd,needs_k8s,needs_host_kernel"
VOLUME_ID = str(uuid.uuid4())  # a Cinder volume UUID; its first 20 characters are the virtio serial
SWAP_ID = str(uuid.uuid4())
# Every variable our group_vars set, and a file of Kubespray v2.31.0 that reads it (checked when the tree is there).
KUBESPRAY_READS = {
    "bin_dir": "roles/kubespray_defaults/defaults/main/main.yml",
    "ntp_enabled": "roles/kubernetes/preinstall/handlers/main.yml",
    "unsafe_show_logs": "roles/bootstrap_os/tasks/rhel.yml",
    "containerd_registries_mirrors": "roles/container-engine/containerd/tasks/main.yml",
    "containerd_additional_runtimes": "roles/container-engine/containerd/templates/config.toml.j2",
    "node_labels": "roles/kubernetes/node-label/tasks/main.yml",
    "kube_version": "roles/download/templates/kubeadm-images.yaml.j2",
    "container_manager": "roles/container-engine/tasks/main.yml",
    "kube_network_plugin": "playbooks/install_etcd.yml",
    "kube_proxy_mode": "roles/kubernetes/control-plane/templates/kubeadm-config.v1beta4.yaml.j2",
    "cluster_name": "roles/kubespray_defaults/defaults/main/main.yml",
    "kube_encrypt_secret_data": "roles/kubernetes/control-plane/tasks/main.yml",
    "supplementary_addresses_in_ssl_keys": "roles/kubernetes/control-plane/tasks/kubeadm-setup.yml",
    "kubeconfig_localhost": "roles/kubernetes/client/tasks/main.yml",
    "auto_renew_certificates": "roles/kubernetes/control-plane/tasks/main.yml",
    "helm_enabled": "roles/kubernetes-apps/meta/main.yml",
    "gateway_api_enabled": "roles/kubernetes-apps/common_crds/meta/main.yml",
    "metrics_server_enabled": "roles/kubernetes-apps/meta/main.yml",
    "local_path_provisioner_enabled": "roles/kubernetes-apps/external_provisioner/meta/main.yml",
    "local_path_provisioner_claim_root": (
        "roles/kubernetes-apps/external_provisioner/local_path_provisioner/tasks/main.yml"
    ),
    "argocd_enabled": "roles/kubernetes-apps/meta/main.yml",
    "registry_enabled": "roles/kubernetes-apps/meta/main.yml",
}


def _kubespray_present() -> bool:
    return (ANSIBLE / "kubespray" / "cluster.yml").is_file()


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


# -- static checks ------------------------------------------------------------------------------------------------
def test_ansible_lint_production_profile_is_clean() -> None:
    # site.yml and playbooks/kubernetes.yml import Kubespray's playbook; without the tree ansible-lint cannot load
    # them (its syntax check needs the imported file), so they are linted only when the submodule is checked out.
    excludes = [] if _kubespray_present() else ["--exclude", "site.yml", "--exclude", "playbooks/kubernetes.yml"]
    res = subprocess.run(
        [_bin("ansible-lint"), "--offline", "--profile", "production", "--nocolor", *excludes],
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]


def test_playbooks_syntax(tmp_path: Path) -> None:
    # Every playbook that does not import Kubespray's tree (all of them when the submodule is checked out).
    books = [*sorted((ANSIBLE / "playbooks").glob("*.yml")), ANSIBLE / "site.yml"]
    books = [b for b in books if _kubespray_present() or b.name not in {"kubernetes.yml", "site.yml"}]
    assert {b.name for b in books} >= {"prepare.yml", "bootstrap.yml", "preflight.yml"}
    inv = tmp_path / "hosts.yaml"
    inv.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {"node1": None},
                    "children": {
                        "kube_control_plane": {"hosts": {"node1": None}},
                        "kube_node": {"hosts": {"node1": None}},
                        "etcd": {"hosts": {"node1": None}},
                        "gpu": {"hosts": {}},
                        "k8s_cluster": {"children": {"kube_control_plane": None, "kube_node": None}},
                    },
                }
            }
        )
    )
    res = subprocess.run(
        [_bin("ansible-playbook"), "--syntax-check", "-i", str(inv), *map(str, books)],
        cwd=ANSIBLE,
        env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    # a broken playbook is caught (the check is not a no-op)
    bad = tmp_path / "bad.yml"
    bad.write_text("- hosts: all\n  tasks:\n    - ansible.builtin.debug:\n      msg: [unclosed\n")
    res = subprocess.run(
        [_bin("ansible-playbook"), "--syntax-check", "-i", str(inv), str(bad)],
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode != 0


def test_kubespray_and_ansible_are_pinned() -> None:
    gitmodules = (REPO / ".gitmodules").read_text()
    assert "path = ansible/kubespray" in gitmodules and "kubernetes-sigs/kubespray" in gitmodules
    tree = run("git", "-C", str(REPO), "ls-files", "--stage", "ansible/kubespray").stdout.split()
    assert tree[:2] == ["160000", KUBESPRAY_COMMIT], tree
    lock = (REPO / "requirements.lock").read_text()
    assert re.search(r"^ansible==11\.13\.0$", lock, re.M) and re.search(r"^ansible-core==2\.18\.\d+$", lock, re.M)
    from cxops.cluster import install_checks as preflight

    assert preflight.check_ansible_core().startswith("2.18.")


def test_group_vars_are_variables_kubespray_reads() -> None:
    ours = {}
    for f in (ANSIBLE / "inventory" / "cxops" / "group_vars").rglob("*.yml"):
        for key in yaml.safe_load(f.read_text()) or {}:
            ours[key] = f
    unknown = sorted(k for k in ours if k not in KUBESPRAY_READS)
    assert not unknown, f"group_vars set variables not vetted against Kubespray v2.31.0: {unknown}"
    if _kubespray_present():
        for key, rel in KUBESPRAY_READS.items():
            assert key in (ANSIBLE / "kubespray" / rel).read_text(), f"{key} not read by kubespray/{rel}"


def test_role_defaults_are_prefixed_and_versions_pinned() -> None:
    for role in (ANSIBLE / "roles").iterdir():
        defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
        assert all(k.startswith(f"{role.name}_") for k in defaults), (role.name, list(defaults))
        for key, value in defaults.items():
            if key.endswith("_version"):
                assert re.fullmatch(r"[0-9][0-9.\-]*", str(value)), (key, value)


# -- the real install over SSH ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    if os.geteuid() != 0:
        pytest.fail("the SSH test hosts need root (network namespaces, overlay mounts, loop devices)")
    serials = {"node1": [VOLUME_ID[:20]], "node2": [SWAP_ID[:20]]}
    with HostLab(tmp_path_factory.mktemp("hosts"), CACHE, disks=serials) as hosts:
        # node2's disk holds a filesystem that is not ours: the data-volume role must refuse it.
        run("mkswap", hosts.host("node2").disks[0].device)
        yield hosts


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with its own cxops.yaml and a copy of ansible/ without Kubespray's tree (absent in tests)."""
    root = tmp_path_factory.mktemp("project")
    config = make_project(root)
    shutil.copytree(
        ANSIBLE, root / "ansible", ignore=shutil.ignore_patterns("kubespray", "hosts.yaml", "ssh_config", "cxops.yml")
    )
    return config


def _inventory(lab: HostLab, project: Path, name: str, volumes: dict[str, str], gpu: tuple[str, ...] = ()) -> Path:
    inv = project.parent / name
    shutil.copytree(project.parent / "ansible" / "inventory" / "cxops", inv)
    # The namespaces reach no Debian mirror: the packages are in the root already and apt must not refresh.
    lab.inventory(inv, volumes, extra_vars={"node_prep_apt_update_cache": False}, gpu=gpu)
    return inv


def _install(project: Path, inv: Path, stage: str, *extra: str, verbosity: int = 0) -> subprocess.CompletedProcess:
    return cli(
        project,
        "cluster",
        "install",
        "--stage",
        stage,
        "--inventory",
        str(inv),
        "--skip-tags",
        SKIP,
        *extra,
        env={"ANSIBLE_VERBOSITY": str(verbosity)},
        timeout=600,
    )


def _recap(log: Path) -> dict[str, dict[str, int]]:
    from cxops.cluster.runner import parse_recap

    return {r.host: vars(r) for r in parse_recap(log.read_text())}


def _secret_digests(lab: HostLab) -> dict[str, str]:
    import hashlib

    files = (lab.host("node1").upper / "etc" / "cxops" / "secrets").glob("*.env")
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture(scope="module")
def installed(lab: HostLab, project: Path) -> dict:
    """Both stages that can run here, twice; the first run verbose so any leaked value would show."""
    inv = _inventory(lab, project, "inventory", {"node1": VOLUME_ID})
    logs = project.parent / ".cxops" / "cluster"
    runs = {}
    for n, verbosity in ((1, 2), (2, 0)):
        before = set(logs.glob("*.log")) if logs.exists() else set()
        res = _install(project, inv, "prepare,bootstrap", verbosity=verbosity)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        runs[(n, "run")] = res
        new = sorted(set(logs.glob("*.log")) - before)
        runs[(n, "logs")] = new
        if n == 1:
            lab.ssh("node1", "echo kept | sudo -n tee /var/lib/cxops-data/marker.txt")
            runs["uuid"] = lab.ssh("node1", "sudo -n blkid -p -o value -s UUID /dev/disk/by-id/virtio-*").stdout
            runs["secrets"] = _secret_digests(lab)
    runs["inventory"] = inv
    return runs


def test_first_run_prepares_every_node(lab: HostLab, installed: dict) -> None:
    (log,) = installed[(1, "logs")]
    recap = _recap(log)
    assert set(recap) == {"localhost", "node1", "node2", "node3"}  # localhost: the ansible-core check
    nodes = {h: r for h, r in recap.items() if h != "localhost"}
    assert all(r["failed"] == 0 and r["unreachable"] == 0 and r["changed"] > 0 for r in nodes.values()), recap
    for node in ("node1", "node2", "node3"):
        toml = lab.ssh(node, "cat /etc/containerd/certs.d/registry.cxops.local/hosts.toml").stdout
        assert 'server = "http://registry.cxops.local"' in toml
        hosts = lab.ssh(node, "cat /etc/hosts").stdout
        assert f"{lab.host('node1').address} registry.cxops.local" in hosts.splitlines()
        assert "fs.inotify.max_user_watches = 524288" in lab.ssh(node, "cat /etc/sysctl.d/90-cxops.conf").stdout
        # no host is in the gpu group: the GPU role touched none of them
        assert lab.ssh(node, "ls /etc/apt/sources.list.d/", check=False).stdout.count("nvidia") == 0
    # the CLI's summary table names every host with its counts
    out = installed[(1, "run")].stdout
    assert all(re.search(rf"{n}\s.*\d", out) for n in ("node1", "node2", "node3")), out
    # the bootstrap says which Secrets the user must supply, by name, never with a value
    assert "you supply Secret argo/" in " ".join(installed[(1, "run")].stdout.split())


def test_data_volume_formatted_mounted_and_kept(lab: HostLab, installed: dict) -> None:
    mounts = lab.ssh("node1", "findmnt -n -o SOURCE,FSTYPE /var/lib/cxops-data").stdout.split()
    device = lab.host("node1").disks[0].device
    assert mounts == [device, "ext4"], mounts
    fstab = lab.ssh("node1", "cat /etc/fstab").stdout
    assert f"UUID={installed['uuid'].strip()} /var/lib/cxops-data ext4 defaults,nofail" in fstab
    # after the second run: same filesystem (not reformatted), the file written in between still there
    assert lab.ssh("node1", "sudo -n blkid -p -o value -s UUID " + device).stdout == installed["uuid"]
    assert lab.ssh("node1", "cat /var/lib/cxops-data/marker.txt").stdout == "kept\n"
    # nodes without a data_volume_id get no mount
    assert lab.ssh("node3", "findmnt /var/lib/cxops-data", check=False).returncode != 0


def test_second_run_changes_nothing(installed: dict) -> None:
    for log in installed[(2, "logs")]:
        recap = _recap(log)
        assert recap and all(r["changed"] == 0 and r["failed"] == 0 for r in recap.values()), (log.name, recap)


def test_secrets_generated_once_and_never_printed(lab: HostLab, installed: dict, project: Path) -> None:
    from cxops.cluster_secrets import catalogue
    from cxops.config import load_config

    cfg = load_config(project)
    random_names = {s.name: s.keys for s in catalogue(cfg) if s.generate == "random"}
    fixed = {s.name: dict(s.fixed) for s in catalogue(cfg) if s.generate == "random"}
    secrets_dir = lab.host("node1").upper / "etc" / "cxops" / "secrets"
    assert oct(secrets_dir.stat().st_mode & 0o777) == "0o700"
    values = []
    for name, keys in random_names.items():
        f = secrets_dir / f"{name}.env"
        assert oct(f.stat().st_mode & 0o777) == "0o600", f
        pairs = dict(line.split("=", 1) for line in f.read_text().splitlines())
        assert list(pairs) == list(keys)
        # a fixed key (a role name the manifests also name) holds exactly its value; every other one is random
        assert {k: pairs[k] for k in fixed[name]} == fixed[name], f
        random_values = [v for k, v in pairs.items() if k not in fixed[name]]
        assert random_values and all(len(v) >= 40 for v in random_values)
        values += random_values
    assert len(set(values)) == len(values)  # independent values
    # kept on re-run: the files after the second run are those of the first
    assert _secret_digests(lab) == installed["secrets"]
    assert not (lab.host("node2").upper / "etc" / "cxops").exists()  # only on the first control-plane node
    output = "".join(r.stdout + r.stderr for k, r in installed.items() if isinstance(k, tuple) and k[1] != "logs")
    output += "".join(p.read_text() for n in (1, 2) for p in installed[(n, "logs")])
    assert "Generate each random Secret" in output  # the task ran and its output is in what we searched
    leaked = [v[:6] + "…" for v in values if v in output]
    assert not leaked, f"secret values found in Ansible output: {leaked}"


def test_kubeconfig_through_the_jump_host(lab: HostLab, installed: dict, project: Path) -> None:
    # Stand-in for the admin kubeconfig Kubespray writes (no Kubernetes here); the fetch path is the real one.
    fake_key = "LS0tZmFrZS1jbGllbnQta2V5LWZvci10ZXN0cy0tLQ=="
    admin = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "cluster.local",
                "cluster": {
                    "server": f"https://{lab.host('node1').address}:6443",
                    "certificate-authority-data": "Q0E=",
                },
            }
        ],
        "users": [{"name": "admin", "user": {"client-key-data": fake_key}}],
    }
    subprocess.run(
        [
            "ssh",
            "-F",
            str(lab.ssh_config),
            "node1",
            "sudo -n sh -c 'mkdir -p /etc/kubernetes && umask 077 && cat > /etc/kubernetes/admin.conf'",
        ],
        input=yaml.safe_dump(admin),
        text=True,
        check=True,
        timeout=30,
    )
    out = project.parent / "kubeconfig"
    res = cli(project, "cluster", "kubeconfig", "--inventory", str(installed["inventory"]), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    got = yaml.safe_load(out.read_text())
    assert got["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert got["users"][0]["user"]["client-key-data"] == fake_key
    assert fake_key not in res.stdout + res.stderr
    assert "-L 6443:127.0.0.1:6443 node1" in res.stdout


# -- bad input ----------------------------------------------------------------------------------------------------
def test_no_inventory(project: Path, tmp_path: Path) -> None:
    res = cli(project, "cluster", "install", "--inventory", str(tmp_path))
    assert res.returncode == 1
    assert "no inventory" in res.stderr and "cxops infra inventory" in res.stderr


def test_kubespray_tree_missing_names_the_fetch_command(lab: HostLab, installed: dict, project: Path) -> None:
    res = cli(project, "cluster", "install", "--stage", "kubernetes", "--inventory", str(installed["inventory"]))
    assert res.returncode == 1
    assert "Kubespray tree missing" in res.stderr and "git submodule update --init ansible/kubespray" in res.stderr


def test_wrong_ansible_core_version(installed: dict, project: Path) -> None:
    from cxops.cluster import install_checks as preflight
    from cxops.errors import CxopsError

    for bad in ("2.19.1", "2.17.9"):
        with pytest.raises(CxopsError, match=rf"ansible-core {re.escape(bad)} is installed.*>=2\.18\.0,<2\.19\.0"):
            preflight.check_ansible_core(bad)
    # the same range, asserted by the playbooks themselves when run by hand: make this Ansible fall outside it
    ansible_dir = project.parent / "ansible"
    res = subprocess.run(
        [
            _bin("ansible-playbook"),
            "-i",
            str(installed["inventory"] / "hosts.yaml"),
            "playbooks/preflight.yml",
            "-e",
            "preflight_ansible_max=2.18.0",
        ],
        cwd=ansible_dir,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ANSIBLE_CONFIG": str(ansible_dir / "ansible.cfg")},
    )
    assert res.returncode != 0 and "is outside [2.18.0, 2.18.0)" in res.stdout, res.stdout[-2000:]


def test_unreachable_host_names_itself_and_the_jump_host(lab: HostLab, installed: dict, project: Path) -> None:
    inv = project.parent / "inventory-dead"
    shutil.copytree(installed["inventory"], inv, ignore=shutil.ignore_patterns("cxops.yml"))
    hosts = yaml.safe_load((inv / "hosts.yaml").read_text())
    hosts["all"]["hosts"]["node9"] = {"ansible_host": "node9", "ip": "10.254.79.99", "access_ip": "10.254.79.99"}
    hosts["all"]["children"]["kube_node"]["hosts"]["node9"] = None
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    with (inv / "ssh_config").open("r+") as f:  # the new node goes before `Host *`, as the generator writes it
        text = f.read().replace("Host *", "Host node9\n  HostName 10.254.79.99\n  ProxyJump bastion\n\nHost *")
        f.seek(0)
        f.write(text)
    res = _install(project, inv, "prepare", "--limit", "node9")
    assert res.returncode == 1
    msg = " ".join(res.stderr.split())
    assert "host node9 (10.254.79.99) did not answer" in msg and "jump host bastion (10.254.78.2)" in msg, msg


def test_foreign_filesystem_refused_and_gpu_role_only_on_gpu_hosts(
    lab: HostLab, installed: dict, project: Path
) -> None:
    # node2's data volume holds swap; node3 joins the gpu group (a Debian host, which the GPU role refuses).
    inv = _inventory(lab, project, "inventory-bad", {"node1": VOLUME_ID, "node2": SWAP_ID}, gpu=("node3",))
    res = _install(project, inv, "prepare", "--limit", "node2,node3", "--tags", "data_volume,gpu_node")
    assert res.returncode == 1, res.stdout[-2000:]
    log = max((project.parent / ".cxops" / "cluster").glob("install-prepare-*.log"), key=lambda p: p.stat().st_mtime)
    text = " ".join(log.read_text().split())
    assert "holds a swap filesystem, not ext4; refusing to format it" in text, text[-3000:]
    assert "node3 is in the gpu group but runs Debian; GPU nodes need Ubuntu" in text, text[-3000:]
    err = " ".join(res.stderr.split())
    assert "host node2: 1 task(s) failed" in err and "host node3: 1 task(s) failed" in err, err
    device = lab.host("node2").disks[0].device
    assert run("blkid", "-p", "-o", "value", "-s", "TYPE", device).stdout.strip() == "swap"  # untouched
