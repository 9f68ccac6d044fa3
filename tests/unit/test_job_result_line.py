"""A job's result survives the console (issue 26, class 10).

The serial console truncates long lines and lets kernel messages land between and inside lines. The result is
printed by the same Python the job's wrapper runs on the server (userdata.RESULT_PY, run here by python3 as the
wrapper runs it), then put through what a console does to it, and read back by cxops.cloud.console: it must come
back exactly, or be reported UNREADABLE, never FAILED and never a different value.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxops.cloud import console, userdata
from cxops.cloud.job_state import JobState, derive_status

KERNEL = "[  812.345678] nvme nvme0: I/O 17 QID 3 timeout, completion polled"


def emit(result: object, tmp: Path, run: str = "r1", status: str = "succeeded", code: int = 0) -> list[str]:
    """The console lines the wrapper prints for `result` (python3 running RESULT_PY with the wrapper's env)."""
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    (tmp / "result.json").write_text(json.dumps(result))
    env = {
        **os.environ,
        "CXOPS_RESULT": str(tmp / "result.json"),
        "CXOPS_JOB_NAME": "j",
        "CXOPS_RUN_ID": run,
        "CXOPS_DATA_DIR": str(data),
        "STATUS": status,
        "CODE": str(code),
        "STARTED": "100",
        "ENDED": "160",
    }
    python3 = shutil.which("python3")
    assert python3 is not None
    proc = subprocess.run([python3, "-"], input=userdata.RESULT_PY, env=env, capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()


def _job() -> JobState:
    return JobState(
        name="j",
        run_id="r1",
        cloud="c",
        server_name="s",
        flavor="f",
        image="i",
        deadline_seconds=60,
        boot_timeout_seconds=100,
        created_at=1000.0,
    )


def test_the_wrapper_runs_this_code():
    assert userdata.RESULT_PY in userdata.WRAPPER


def test_a_result_comes_back_through_kernel_lines_between_and_inside_its_lines(tmp_path):
    result = {"mlflow_run_id": "a" * 32, "metrics": {"accuracy": 0.97}, "note": "ünïcode ✓"}
    lines = emit(result, tmp_path)
    assert all(len(line) <= 120 for line in lines)
    noisy = []
    for k, line in enumerate(lines):
        noisy.append(KERNEL)
        if k < len(lines) // 2:  # the first copy of every chunk is split by a kernel message
            noisy += [line[:40] + KERNEL, line[40:]]
        else:
            noisy.append("[   20.0] cloud-init[812]: " + line)
    m = console.parse("\n".join(noisy), "r1")
    assert m.result is not None and m.result["result"] == result and m.result["status"] == "succeeded"
    assert derive_status(_job(), "SHUTOFF", m, now=1001) == "SUCCEEDED"


def test_a_large_result_goes_to_the_data_directory_and_the_line_stays_small(tmp_path):
    big = {"predictions": list(range(20000))}
    lines = emit(big, tmp_path)
    assert len(lines) <= 2 * 8 and all(len(line) <= 120 for line in lines)
    doc = console.parse("\n".join(lines), "r1").result
    assert doc is not None and doc["result"] is None
    stored = Path(doc["result_file"]).read_bytes()
    assert len(stored) == doc["result_bytes"] and json.loads(stored) == big
    import zlib

    assert f"{zlib.crc32(stored):08x}" == doc["result_crc32"]


@pytest.mark.parametrize(
    "text",
    [
        # the console cut the (old, single-line) result short
        'CXOPS-JOB-RESULT {"job": "j", "run": "r1", "status": "succeeded", "exit_code": 0, "resu',
        # a kernel message inside it
        'CXOPS-JOB-RESULT {"job": "j", "run": "r1", ' + KERNEL + '\n"status": "succeeded", "exit_code": 0}',
    ],
)
def test_a_result_that_cannot_be_read_is_unreadable_not_failed(text):
    m = console.parse(text, "r1")
    assert m.result is None and m.unreadable
    assert derive_status(_job(), "SHUTOFF", m, now=1001) == "UNREADABLE"


def test_chunks_damaged_in_both_copies_are_unreadable(tmp_path):
    lines = emit({"mlflow_run_id": "b" * 32, "pad": "x" * 300}, tmp_path)
    n = len(lines) // 2
    damaged = [line[:-3] if k % n == 1 else line for k, line in enumerate(lines)]  # chunk 2 cut in both copies
    m = console.parse("\n".join(damaged), "r1")
    assert m.result is None and "1 of" in (m.unreadable or "")
    assert derive_status(_job(), "SHUTOFF", m, now=1001) == "UNREADABLE"


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**9), 10**9), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(result=json_value, seed=st.integers(0, 2**32 - 1))
def test_property_noise_never_changes_a_result(tmp_path, result, seed):
    """Kernel lines anywhere, and any line split or cut: the result comes back exactly when one copy of every chunk
    is whole, and is otherwise unreadable; it is never a different value."""
    rng = random.Random(seed)
    lines = emit(result, tmp_path)
    n = len(lines) // 2
    out, intact = [], set()
    for k, line in enumerate(lines):
        if rng.random() < 0.3:
            out.append(KERNEL)
        damage = rng.random()
        if damage < 0.25:  # cut short
            out.append(line[: rng.randrange(len(line))])
        elif damage < 0.5:  # a kernel message spliced in
            at = rng.randrange(len(line))
            out += [line[:at] + KERNEL, line[at:]]
        else:
            out.append(line)
            intact.add(k % n)
    m = console.parse("\n".join(out), "r1")
    if len(intact) == n:
        assert m.result is not None and m.result["result"] == result
    else:
        assert m.result is None or m.result["result"] == result
        if m.result is None:
            assert m.unreadable and derive_status(_job(), "SHUTOFF", m, now=1001) == "UNREADABLE"
