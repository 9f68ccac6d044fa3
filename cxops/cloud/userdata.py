"""The cloud-init document that turns a fresh server into a one-shot job runner (no SSH needed).

The job's script runs under `timeout` with the job's deadline; a wrapper prints a BEGIN marker, the
job's output, and one RESULT line of JSON to the console, then the server powers off. `cxops job logs`
reads the console and extracts that JSON (see console.py).
"""

from __future__ import annotations

import base64
import shlex

import yaml

BEGIN = "CXOPS-JOB-BEGIN"
RESULT = "CXOPS-JOB-RESULT"
STORED = "CXOPS-JOB-STORED"  # what the upload to the object store came to (job_store.py), never the URL
JOB_DIR = "/var/lib/cxops"
DATA_DIR = "/mnt/cxops-data"

# The result as the console carries it (console.py reads it back). The serial console truncates long lines and lets
# kernel messages land between (or inside) lines, so the result is small and self-checking: the JSON document
# (job, run, status, exit_code, duration_s, result) is base64-encoded and printed in short numbered chunks, each
# line `CXOPS-JOB-RESULT <run> <i>/<n> <crc32 of the whole> <crc32 of the chunk> <chunk>`, the whole sequence
# twice; a result above INLINE_MAX bytes is written to the job's data directory (its volume when it has one) and
# the line names the file, its size and its CRC-32 instead.
INLINE_MAX = 2048
CHUNK = 64
RESULT_PY = f"""import base64, json, os, zlib
import urllib.error, urllib.request


def put(url, body):
    # one PUT to a temporary URL; what Swift said, never the URL (it is the credential)
    req = urllib.request.Request(url, data=body, method="PUT", headers={{"Content-Type": "application/octet-stream"}})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return "uploaded %d bytes" % len(body) if resp.status < 300 else "refused: HTTP %d" % resp.status
    except urllib.error.HTTPError as exc:
        return "refused: HTTP %d %s" % (exc.code, exc.reason)
    except (urllib.error.URLError, OSError) as exc:
        return "no answer: %s" % getattr(exc, "reason", exc)


def store(doc, result):
    # the whole document (with the full result, however large) and the job's log, to the job's container
    full = dict(doc, result=result)
    full.pop("result_file", None)
    said = {{"result": put(os.environ["CXOPS_STORE_RESULT_URL"], json.dumps(full, sort_keys=True).encode())}}
    try:
        with open(os.environ["CXOPS_LOG"], "rb") as f:
            said["log"] = put(os.environ["CXOPS_STORE_LOG_URL"], f.read())
    except FileNotFoundError:
        said["log"] = "no log"
    print("{STORED} %s result %s; log %s" % (os.environ["CXOPS_RUN_ID"], said["result"], said["log"]), flush=True)
    return said


result = None
try:
    with open(os.environ["CXOPS_RESULT"]) as f:
        result = json.load(f)
except FileNotFoundError:
    pass
except ValueError as exc:
    result = {{"error": "result file is not JSON: %s" % exc}}
doc = {{"job": os.environ["CXOPS_JOB_NAME"], "run": os.environ["CXOPS_RUN_ID"], "status": os.environ["STATUS"],
       "exit_code": int(os.environ["CODE"]), "duration_s": int(os.environ["ENDED"]) - int(os.environ["STARTED"]),
       "result": result}}
if len(json.dumps(result).encode()) > {INLINE_MAX}:
    raw = json.dumps(result, sort_keys=True).encode()
    path = os.path.join(os.environ["CXOPS_DATA_DIR"], "cxops-result-%s.json" % os.environ["CXOPS_RUN_ID"])
    with open(path, "wb") as f:
        f.write(raw)
    doc.update(result=None, result_file=path, result_bytes=len(raw), result_crc32="%08x" % zlib.crc32(raw))
if os.environ.get("CXOPS_STORE_RESULT_URL"):
    doc["store"] = store(doc, result)
data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
text, whole = base64.b64encode(data).decode(), "%08x" % zlib.crc32(data)
chunks = [text[i : i + {CHUNK}] for i in range(0, len(text), {CHUNK})]
run = os.environ["CXOPS_RUN_ID"]
for _ in range(2):
    for i, c in enumerate(chunks, 1):
        print("{RESULT} %s %d/%d %s %08x %s" % (run, i, len(chunks), whole, zlib.crc32(c.encode()), c), flush=True)
"""

WRAPPER = r"""#!/bin/bash
set -u
# shellcheck source=/dev/null
. /var/lib/cxops/job.env
mkdir -p "$CXOPS_DATA_DIR"
if [ -n "${CXOPS_VOLUME_SERIAL:-}" ]; then
  # the volume shows up as a disk whose serial starts with the volume id; wait for it, bounded
  dev=""
  for _ in $(seq 1 "$CXOPS_VOLUME_WAIT"); do
    dev=$(find /dev/disk/by-id -name "*${CXOPS_VOLUME_SERIAL}*" 2>/dev/null | head -n1)
    [ -n "$dev" ] && break
    sleep 1
  done
  if [ -n "$dev" ]; then
    blkid "$dev" >/dev/null 2>&1 || mkfs.ext4 -q "$dev"
    mount "$dev" "$CXOPS_DATA_DIR" && echo "cxops: volume $dev mounted at $CXOPS_DATA_DIR"
  else
    echo "cxops: volume ${CXOPS_VOLUME_SERIAL} did not appear within ${CXOPS_VOLUME_WAIT}s; using the root disk"
  fi
fi
started=$(date +%s)
echo "CXOPS-JOB-BEGIN {\"job\": \"$CXOPS_JOB_NAME\", \"run\": \"$CXOPS_RUN_ID\", \"started\": $started}"
cd "$CXOPS_DATA_DIR" || cd /
# the job's output goes to the console and to its log file (uploaded with the result when the job has a store)
timeout --signal=TERM --kill-after=10 "$CXOPS_DEADLINE" /var/lib/cxops/job.sh 2>&1 | tee "$CXOPS_LOG"
code=${PIPESTATUS[0]}
ended=$(date +%s)
status=failed
[ "$code" = 0 ] && status=succeeded
[ "$code" = 124 ] && status=deadline_exceeded
if command -v python3 >/dev/null 2>&1; then
  CODE=$code STATUS=$status STARTED=$started ENDED=$ended python3 - <<'PY'
__RESULT_PY__PY
else
  printf 'CXOPS-JOB-RESULT {"job": "%s", "run": "%s", "status": "%s", "exit_code": %d, "duration_s": %d, %s}\n' \
    "$CXOPS_JOB_NAME" "$CXOPS_RUN_ID" "$status" "$code" "$((ended - started))" '"result": null'
fi
sync
""".replace("__RESULT_PY__", RESULT_PY)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the document reads like the scripts it carries."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def job_script(command: list[str] | None = None, script: str | None = None) -> str:
    """The job itself: a given script (kept as is if it has a #! line) or a command line."""
    if bool(command) == bool(script):
        raise ValueError("give exactly one of command or script")
    if script is not None:
        return script if script.startswith("#!") else "#!/bin/bash\nset -e\n" + script
    return "#!/bin/bash\nexec " + " ".join(shlex.quote(c) for c in command or []) + "\n"


def render(
    name: str,
    run_id: str,
    *,
    command: list[str] | None = None,
    script: str | None = None,
    deadline_seconds: int,
    env: dict[str, str] | None = None,
    volume_id: str | None = None,
    volume_wait_seconds: int = 60,
    store_env: dict[str, str] | None = None,
) -> str:
    """A `#cloud-config` document (passes `cloud-init schema`). `store_env`: the temporary URLs the job uploads its
    result and log to (job_store.prepare); they go to the 0600 env file only, never to the console."""
    job_env = {
        "CXOPS_JOB_NAME": name,
        "CXOPS_RUN_ID": run_id,
        "CXOPS_DEADLINE": str(int(deadline_seconds)),
        "CXOPS_RESULT": f"{JOB_DIR}/result.json",
        "CXOPS_DATA_DIR": DATA_DIR,
        # virtio disks carry the first 20 characters of the volume id as their serial
        "CXOPS_VOLUME_SERIAL": (volume_id or "")[:20],
        "CXOPS_VOLUME_WAIT": str(int(volume_wait_seconds)),
        "CXOPS_LOG": f"{JOB_DIR}/job.log",
        **(env or {}),
        **(store_env or {}),
    }
    env_file = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in job_env.items())
    doc = {
        "write_files": [
            {"path": f"{JOB_DIR}/job.env", "permissions": "0600", "content": env_file},
            {
                "path": f"{JOB_DIR}/job.sh",
                "permissions": "0755",
                "encoding": "b64",
                "content": base64.b64encode(job_script(command, script).encode()).decode(),
            },
            {"path": f"{JOB_DIR}/run-job.sh", "permissions": "0755", "content": WRAPPER},
        ],
        "runcmd": [["/bin/bash", f"{JOB_DIR}/run-job.sh"]],
        "output": {"all": "| tee -a /var/log/cloud-init-output.log"},
        # a finished job stops the server: no idle GPU billed if the runner dies before cleanup
        "power_state": {"mode": "poweroff", "delay": "now", "message": "cxops job finished", "condition": True},
    }
    return "#cloud-config\n" + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1000)
