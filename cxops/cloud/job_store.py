"""A job's result and log in a Swift container, written by the job through temporary URLs (no credential of yours).

`cxops job run --store CONTAINER` checks the container (it must exist in the project), makes sure it has a
temporary-URL key (X-Container-Meta-Temp-URL-Key; a random one is set when it has none), and hands the job two
PUT-only temporary URLs, one per object (`cxops-jobs/<job>/<run>/result.json` and `log.txt`), valid until the job's
deadline has passed. They reach the job in its user data (a 0600 file, never on the console); the job state keeps
the container and object names, never a URL. cxops reads the objects back with your own login.

Temporary URLs (Swift's tempurl middleware, Chameleon's object store offers it): the signature is the HMAC (here
SHA-256, hex) of "METHOD\\nEXPIRES\\nPATH" with the key, PATH = /v1/<account>/<container>/<object>, sent as the query
parameters temp_url_sig and temp_url_expires (a Unix time). Swift answers 401 to a wrong or expired URL and 413 to
an upload above the container's quota (X-Container-Meta-Quota-Bytes) or its max_file_size.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cxops.errors import CxopsError

if TYPE_CHECKING:
    from openstack.connection import Connection

    from cxops.cloud.job_state import JobState

PREFIX = "cxops-jobs"
RESULT_OBJECT = "result.json"
LOG_OBJECT = "log.txt"
URL_MARGIN_S = 900  # the URLs outlive the job's deadline by this much: the upload runs after it


class StoreDown(CxopsError):
    """The object store did not answer: down, never 'not found'."""


def object_names(job_name: str, run_id: str) -> dict[str, str]:
    """{"result": ..., "log": ...}: the objects a run writes, under cxops-jobs/<job>/<run>/."""
    base = f"{PREFIX}/{job_name}/{run_id}"
    return {"result": f"{base}/{RESULT_OBJECT}", "log": f"{base}/{LOG_OBJECT}"}


def account_url(conn: Connection) -> str:
    """The project's Swift account URL (scheme://host[:port]/v1/AUTH_<project>) from the catalog."""
    try:
        url = conn.object_store.get_endpoint()
    except Exception as exc:  # keystoneauth raises several kinds for a missing service
        raise CxopsError(f"cloud '{conn.config.name}' has no object-store service in its catalog ({exc})") from None
    if not url:
        raise CxopsError(f"cloud '{conn.config.name}' has no object-store service in its catalog")
    return str(url).rstrip("/")


def _down(exc: Exception, url: str) -> StoreDown:
    return StoreDown(f"the object store at {url} is down (no answer: {type(exc).__name__})")


def _request(conn: Connection, method: str, path: str, **kw: Any) -> Any:
    """One request to the object store (raise_exc off: the caller reads the status); StoreDown when no answer."""
    from keystoneauth1 import exceptions as ka

    url = account_url(conn)
    try:
        return conn.session.request(f"{url}/{path}", method, raise_exc=False, **kw)
    except (ka.ConnectFailure, ka.ConnectTimeout) as exc:
        raise _down(exc, url) from None


def check_container(conn: Connection, container: str) -> dict[str, str]:
    """The container's metadata headers (HEAD), lower-cased. One-line CxopsError when it does not exist in the
    project, is not the project's to write, or the store is down."""
    if not container or "/" in container or len(container) > 256:
        raise CxopsError(f"--store {container!r} must be a container name (no '/', at most 256 characters)")
    resp = _request(conn, "HEAD", container)
    project = conn.current_project_id
    if resp.status_code == 404:
        raise CxopsError(
            f"container {container!r} does not exist in project {project}; create it first "
            f"(`openstack container create {container}`)"
        )
    if resp.status_code in (401, 403):
        raise CxopsError(
            f"container {container!r} is not this project's to write ({project}: HTTP {resp.status_code}); "
            "use a container of your own project"
        )
    if resp.status_code in (502, 503, 504):
        raise StoreDown(f"the object store at {account_url(conn)} is down: HTTP {resp.status_code}")
    if resp.status_code >= 300:
        raise CxopsError(f"the object store answered HTTP {resp.status_code} for container {container!r}")
    return {k.lower(): v for k, v in resp.headers.items()}


def temp_url_key(conn: Connection, container: str, headers: dict[str, str]) -> str:
    """The container's temporary-URL key; sets a random one (never printed) when the container has none."""
    key = headers.get("x-container-meta-temp-url-key")
    if key:
        return str(key)
    key = secrets.token_hex(32)
    resp = _request(conn, "POST", container, headers={"X-Container-Meta-Temp-URL-Key": key})
    if resp.status_code >= 300:
        said = f"HTTP {resp.status_code}"
        raise CxopsError(f"the object store refused a temporary-URL key on container {container!r}: {said}")
    return key


def temp_url(base: str, container: str, obj: str, key: str, expires: int, method: str = "PUT") -> str:
    """A temporary URL for `method` on one object until `expires` (Unix seconds); `base` is the account URL."""
    path = f"{urlsplit(base).path}/{container}/{obj}"
    sig = hmac.new(key.encode(), f"{method}\n{expires}\n{path}".encode(), hashlib.sha256).hexdigest()
    return f"{base}/{container}/{obj}?temp_url_sig={sig}&temp_url_expires={expires}"


def prepare(conn: Connection, container: str, job_name: str, run_id: str, lifetime_s: int) -> dict[str, str]:
    """Check the container and return the job's environment: CXOPS_STORE_RESULT_URL and CXOPS_STORE_LOG_URL
    (PUT-only, valid `lifetime_s` seconds). Secret: goes to the user data only."""
    key = temp_url_key(conn, container, check_container(conn, container))
    base, expires = account_url(conn), int(time.time()) + int(lifetime_s)
    names = object_names(job_name, run_id)
    return {
        "CXOPS_STORE_RESULT_URL": temp_url(base, container, names["result"], key, expires),
        "CXOPS_STORE_LOG_URL": temp_url(base, container, names["log"], key, expires),
    }


def fetch_result(conn: Connection, job: JobState) -> dict[str, Any] | None:
    """The run's result document from the store (the same shape as the console's), or None when it is not there.
    StoreDown when the store does not answer."""
    assert job.store_container
    resp = _request(conn, "GET", f"{job.store_container}/{object_names(job.name, job.run_id)['result']}")
    if resp.status_code == 404:
        return None
    if resp.status_code >= 300:
        raise CxopsError(f"the object store answered HTTP {resp.status_code} for the result of job {job.name}")
    try:
        doc = json.loads(resp.content)
    except ValueError:
        raise CxopsError(f"the stored result of job {job.name} is not JSON") from None
    if not isinstance(doc, dict) or doc.get("run") != job.run_id:
        raise CxopsError(f"the stored result of job {job.name} belongs to another run")
    return doc


def delete_objects(conn: Connection, job: JobState) -> list[str]:
    """Delete the run's uploaded objects; returns the names deleted (a missing one is skipped)."""
    assert job.store_container
    gone = []
    for name in object_names(job.name, job.run_id).values():
        resp = _request(conn, "DELETE", f"{job.store_container}/{name}")
        if resp.status_code in (200, 204):
            gone.append(f"{job.store_container}/{name}")
        elif resp.status_code != 404:
            said = f"HTTP {resp.status_code}"
            raise CxopsError(f"the object store refused to delete {job.store_container}/{name}: {said}")
    return gone


def _meaning(said: str) -> str:
    """What Swift's answer to the job's PUT means, for the error line."""
    if "HTTP 401" in said:
        return " (the temporary URL was wrong or had expired)"
    if "HTTP 413" in said:
        return " (the result is larger than the container allows: its quota or the store's max_file_size)"
    if said.startswith("no answer"):
        return " (the object store was down for the job)"
    return ""


def read_result(conn: Connection, job: JobState) -> tuple[dict[str, Any] | None, str, str | None]:
    """(result document or None, where it came from (or why there is none), why not from the store or None). From
    the store when the job has one and the object is there, else the console's (recorded in the job state by
    `refresh`)."""
    names = object_names(job.name, job.run_id)
    why: str | None = None
    if job.store_container and not job.results_deleted:
        try:
            doc = fetch_result(conn, job)
        except StoreDown as exc:
            doc, why = None, str(exc)
        if doc is not None:
            return doc, f"the object store ({job.store_container}/{names['result']})", None
        if why is None:
            said = str(((job.result or {}).get("store") or {}).get("result") or "")
            why = f"the upload was {said}{_meaning(said)}" if said else "the job uploaded none"
    elif job.store_container:
        why = "the stored copy was deleted by `cxops job cleanup`"
    if job.result is None:
        return None, "the console holds none", why
    if job.result.get("result_file"):
        where = f"{job.result['result_file']}, {job.result.get('result_bytes')} bytes"
        return None, f"the console holds only a pointer to the job's data directory ({where})", why
    return job.result, "the console", why
