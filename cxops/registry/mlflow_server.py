"""The embedded MLflow server: sqlite store, served artifacts, one worker, job execution off (~0.5 GB, ~5 s).

Artifacts go to files under the state dir, or (lab.artifact_store: swift) to the cloud's object store through its S3
API: MLflow's S3 client with MLFLOW_S3_ENDPOINT_URL and the EC2 credentials of `cxops cloud s3-credentials`; the
server proxies every artifact (`--serve-artifacts`), so clients never hold the credentials.
"""

from __future__ import annotations

import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cxops.config import Config
from cxops.errors import CxopsError
from cxops.paths import state_dir
from cxops.processes import ManagedProcess, port_is_free
from cxops.waiting import wait_until


@dataclass(frozen=True)
class MlflowLab:
    port: int
    root: Path
    ready_timeout: float
    artifact_store: str = "local"
    bucket: str = "mlflow"
    credentials: Path | None = None  # s3-credentials.json, for artifact_store swift

    @classmethod
    def from_config(cls, cfg: Config) -> MlflowLab:
        from cxops.cloud.s3 import credentials_path

        return cls(
            cfg.lab.mlflow_port,
            state_dir(cfg) / "mlflow",
            cfg.lab.ready_timeout_seconds,
            cfg.lab.artifact_store,
            cfg.platform.artifacts_bucket,
            credentials_path(cfg),
        )

    def artifacts(self) -> tuple[str, dict[str, str]]:
        """(--artifacts-destination, extra environment): a local folder, or s3://<bucket>/ with the S3 client's
        settings after making sure the bucket exists (CxopsError when the store is down or refuses)."""
        if self.artifact_store != "swift":
            return str(self.root / "artifacts"), {}
        from cxops.cloud import s3

        assert self.credentials is not None
        creds = s3.load(self.credentials)
        s3.ensure_bucket(creds, self.bucket)
        return f"s3://{self.bucket}/", creds.env()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess("mlflow", self.root)

    def healthy(self) -> bool:
        return http_ok(f"{self.url}/health")

    def up(self) -> tuple[int, bool]:
        """Start if not running; return (pid, started_now). Idempotent."""
        pid = self.process.pid()
        if pid is not None:
            self.wait_ready()
            return pid, False
        if not port_is_free(self.port):
            raise CxopsError(
                f"port {self.port} on 127.0.0.1 is in use by another process; "
                "set lab.mlflow_port in cxops.yaml to a free port"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        destination, env = self.artifacts()
        argv = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination",
            destination,
            "--serve-artifacts",
            "--workers",
            "1",
        ]
        pid = self.process.start(argv, env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env})
        try:
            self.wait_ready()
        except CxopsError:
            self.process.stop()
            raise
        return pid, True

    def wait_ready(self) -> None:
        def probe() -> bool:
            if self.process.pid() is None:
                raise CxopsError(f"mlflow server exited during start-up: {self.process.tail()}")
            return self.healthy()

        wait_until(probe, timeout=self.ready_timeout, what=f"MLflow at {self.url}/health", first=0.25, cap=1.0)

    def down(self) -> bool:
        return self.process.stop()


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (OSError, ValueError):
        return False
