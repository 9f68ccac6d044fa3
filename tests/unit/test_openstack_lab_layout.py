"""The local OpenStack's generated passwords survive the command lines they are passed on.

CI once failed every OpenStack test at `keystone-manage bootstrap`: the random admin password began with "-", and
argparse (which keystone-manage uses) read it as an option, "expected one argument".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from openstack_lab.lab import db_sync_steps  # noqa: E402
from openstack_lab.layout import Layout  # noqa: E402


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
