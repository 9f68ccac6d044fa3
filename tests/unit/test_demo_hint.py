"""After `make demo`, its last line says how to reach the CLI, and following it works (issue 31, item 3): the line
names `source .venv/bin/activate`, and in a shell that sourced it (a PATH without .venv, as a new user's) plain
`cxops` runs. `make -n demo` prints the recipe without running the lab; the shell command is run for real."""

from __future__ import annotations

import re
import subprocess

from helpers import REPO


def test_the_last_line_of_make_demo_says_how_to_run_cxops_and_it_works():
    recipe = subprocess.run(["make", "-n", "demo"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert recipe.returncode == 0, recipe.stderr
    last = [line for line in recipe.stdout.splitlines() if line.startswith("echo ")][-1]
    found = re.search(r"source ([^\s`\\]+)", last)
    assert found, last
    shell = f"source {found.group(1)} && cxops status --help"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(REPO), "LANG": "C.UTF-8"}
    res = subprocess.run(["bash", "-c", shell], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "--check" in res.stdout, res.stderr
