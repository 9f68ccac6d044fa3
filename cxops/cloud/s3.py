"""The cloud's object store through its S3 API (Chameleon: Swift with the s3api and s3token middlewares).

Credentials are Keystone EC2 credentials (an access/secret pair), the kind Chameleon users make with `openstack ec2
credentials create`: Keystone's OS-EC2 API (`/v3/users/{user_id}/credentials/OS-EC2`), for the project of the
clouds.yaml entry. Keystone (with the fix for LP#2159643, in Debian's Zed keystone) refuses delegated logins on
that API, application credentials included: the entry used here must log in with a password (or another primary
method); an application-credential entry gets one line saying so.
They are kept in `<lab.state_dir>/s3-credentials.json` (git-ignored, mode 0600) with the S3 endpoint (the
object-store service's URL in the catalog, without its path), never printed. MLflow and boto3 read them from there.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cxops.errors import CxopsError

if TYPE_CHECKING:
    from openstack.connection import Connection

    from cxops.config.schema import Config

CREDENTIALS_FILE = "s3-credentials.json"
# Swift's s3api accepts any region name in a signature; boto3 needs one to sign with
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Credentials:
    """An S3 endpoint (scheme://host[:port]) and the EC2 access/secret pair for it; `cloud` and `project_id` say
    whose they are."""

    endpoint_url: str
    access_key: str
    secret_key: str
    cloud: str
    project_id: str

    def env(self) -> dict[str, str]:
        """The environment MLflow's (boto3's) S3 client reads."""
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }


def credentials_path(cfg: Config) -> Path:
    """Where `cxops cloud s3-credentials` keeps them: <lab.state_dir>/s3-credentials.json (git-ignored)."""
    from cxops.paths import state_dir

    return state_dir(cfg) / CREDENTIALS_FILE


def s3_endpoint(conn: Connection) -> str:
    """The S3 API's root: the catalog's object-store URL without its path (Swift serves S3 at its root).
    Raises CxopsError when the cloud has no object store."""
    try:
        url = conn.endpoint_for("object-store")
    except Exception as exc:  # keystoneauth raises several kinds for a missing service
        raise CxopsError(f"cloud '{conn.config.name}' has no object-store service in its catalog ({exc})") from None
    if not url:
        raise CxopsError(f"cloud '{conn.config.name}' has no object-store service in its catalog")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def ensure(conn: Connection) -> tuple[S3Credentials, bool]:
    """Reuse the user's EC2 credential for this project, or create one; returns (credentials, created)."""
    user_id, project_id = conn.current_user_id, conn.current_project_id
    if not project_id:
        raise CxopsError(
            f"cloud '{conn.config.name}': the credential is not scoped to a project (EC2 credentials need one)"
        )
    path = f"/users/{user_id}/credentials/OS-EC2"
    cloud = str(conn.config.name)
    listed = _json(conn.identity.get(path), "list EC2 credentials", cloud)
    mine = [c for c in listed.get("credentials", []) if c.get("tenant_id") == project_id]
    created = not mine
    if created:
        made = _json(conn.identity.post(path, json={"tenant_id": project_id}), "create an EC2 credential", cloud)
        cred = made["credential"]
    else:
        cred = mine[0]
    return S3Credentials(s3_endpoint(conn), cred["access"], cred["secret"], conn.config.name, project_id), created


DELEGATED = "Delegated tokens cannot access credentials"


def _json(resp: Any, what: str, cloud: str = "") -> dict[str, Any]:
    if resp.status_code == 403 and DELEGATED in resp.text:
        raise CxopsError(
            f"Keystone refused to {what} for cloud '{cloud}': it logs in with an application credential, and Keystone "
            "lets only a primary login (a password) manage EC2 credentials; run this once with a clouds.yaml entry "
            "that logs in with a password (--cloud NAME), or create them in the dashboard"
        )
    if resp.status_code >= 400:
        detail = resp.text.strip().splitlines()[0][:200] if resp.text.strip() else ""
        raise CxopsError(f"Keystone refused to {what}: HTTP {resp.status_code} {detail}".rstrip())
    return resp.json()


def save(creds: S3Credentials, path: Path) -> None:
    """Write the file with mode 0600 from the start (atomically: a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(creds), f, indent=1)
    os.replace(tmp, path)


def load(path: Path) -> S3Credentials:
    """Read the stored credentials; CxopsError naming the file and the command that writes it."""
    try:
        data = json.loads(path.read_text())
        return S3Credentials(**{k: data[k] for k in S3Credentials.__dataclass_fields__})
    except FileNotFoundError:
        raise CxopsError(f"no S3 credentials at {path}: run `cxops cloud s3-credentials` first") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CxopsError(
            f"{path} is not a cxops S3 credentials file ({exc}); run `cxops cloud s3-credentials`"
        ) from None


def client(creds: S3Credentials, connect_timeout: float = 5.0, read_timeout: float = 60.0) -> Any:
    """A boto3 S3 client for the endpoint (path-style addressing: Swift's s3api serves buckets as paths; one
    retry at most, so a store that does not answer is reported within about 2 x `connect_timeout` seconds; a read
    may take long: Swift checks every S3 signature with Keystone)."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "s3",
        endpoint_url=creds.endpoint_url,
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        region_name=REGION,
        config=BotoConfig(
            s3={"addressing_style": "path"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )


REJECTED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"}


def explain(exc: Exception, creds: S3Credentials, what: str) -> CxopsError:
    """One line for a failed S3 call: down (no answer), credentials rejected, or the store's own error code."""
    from botocore.exceptions import ClientError, ConnectionError, EndpointConnectionError, ReadTimeoutError

    if isinstance(exc, EndpointConnectionError | ConnectionError | ReadTimeoutError):
        return CxopsError(f"the S3 API at {creds.endpoint_url} is down (no answer to {what}): {exc}")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "?")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        if code in REJECTED:
            return CxopsError(
                f"the S3 API at {creds.endpoint_url} rejected the credentials with access key "
                f"{creds.access_key[:6]}… ({code}) for {what}; run `cxops cloud s3-credentials` to make valid ones"
            )
        return CxopsError(f"the S3 API at {creds.endpoint_url} answered {what} with {code} (HTTP {status})")
    return CxopsError(f"S3 {what} at {creds.endpoint_url} failed: {exc}")


def check(creds: S3Credentials) -> int:
    """List the buckets (the cheapest signed call); returns how many; CxopsError when down or rejected."""
    try:
        return len(client(creds).list_buckets().get("Buckets", []))
    except Exception as exc:
        raise explain(exc, creds, "a bucket listing") from None


def ensure_bucket(creds: S3Credentials, bucket: str) -> bool:
    """Create `bucket` unless it exists; returns True when it was created here. CxopsError when the store is down,
    the credentials are refused, or the bucket cannot be made (another project's name, a bad name)."""
    s3 = client(creds)
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except Exception as exc:
        from botocore.exceptions import ClientError

        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
        if code in ("403", "Forbidden"):  # a HEAD has no body to say why: wrong credentials, or not ours
            check(creds)  # raises "rejected the credentials" when they are wrong
            raise CxopsError(
                f"the S3 API at {creds.endpoint_url} denies access to bucket {bucket!r} (HTTP 403): it belongs to "
                "another project; choose another platform.artifacts_bucket"
            ) from None
        if code not in ("404", "NoSuchBucket"):
            raise explain(exc, creds, f"a check of bucket {bucket!r}") from None
    try:
        s3.create_bucket(Bucket=bucket)
    except Exception as exc:
        raise explain(exc, creds, f"creating bucket {bucket!r}") from None
    return True
