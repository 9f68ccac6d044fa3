"""The local OpenStack's layout: passwords that survive the command lines they are passed on, and port sets that
let one lab per pytest-xdist worker run side by side.

CI once failed every OpenStack test at `keystone-manage bootstrap`: the random admin password began with "-", and
argparse (which keystone-manage uses) read it as an option, "expected one argument".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from openstack_lab.lab import db_sync_steps  # noqa: E402
from openstack_lab.layout import BASE_PORTS, Layout  # noqa: E402

from tests.openstack.conftest import PORT_STEP  # noqa: E402


def test_new_passwords_never_start_with_a_dash(tmp_path):
    # token_urlsafe gave a leading "-" one time in 64: 300 state dirs make about 1800 draws
    for i in range(300):
        layout = Layout(state=tmp_path / str(i), rootfs=tmp_path / "rootfs")
        for name, value in layout.load_secrets().items():
            assert not value.startswith("-"), name


def test_bootstrap_reads_an_admin_password_that_starts_with_a_dash(tmp_path):
    layout = Layout(state=tmp_path, rootfs=tmp_path / "rootfs", secrets={"admin": "-Ab_c"})
    bootstrap = next(argv for argv in db_sync_steps(layout)["keystone"] if "bootstrap" in argv)
    # keystone-manage's bootstrap parser, as far as this argv goes: each option takes one value
    parser = argparse.ArgumentParser(exit_on_error=False)
    for option in [a.split("=")[0] for a in bootstrap if a.startswith("--bootstrap")]:
        parser.add_argument(option)
    args = bootstrap[bootstrap.index("bootstrap") + 1 :]
    assert parser.parse_args(args).bootstrap_password == "-Ab_c"


def test_the_labs_of_four_workers_share_no_port():
    slots = [{port + k * PORT_STEP for port in BASE_PORTS.values()} for k in range(4)]
    for k, ports in enumerate(slots):
        assert len(ports) == len(BASE_PORTS), f"lab {k} reuses one of its own ports"
        for j in range(k):
            assert not ports & slots[j], f"labs {j} and {k} share {sorted(ports & slots[j])}"


def test_a_state_dir_refuses_another_port_offset(tmp_path):
    from openstack_lab.layout import PORT_OFFSET

    from cxops.errors import CxopsError

    layout = Layout(state=tmp_path, rootfs=tmp_path / "rootfs")
    layout.check_port_offset()  # a new state dir takes the offset of its first `up`
    layout.check_port_offset()
    (tmp_path / "port-offset").write_text(f"{PORT_OFFSET + 1000}\n")
    with pytest.raises(CxopsError, match=rf"CXOPS_LAB_PORT_OFFSET={PORT_OFFSET + 1000}, not {PORT_OFFSET} "):
        layout.check_port_offset()
