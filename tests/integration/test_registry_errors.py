"""Absent is absent, broken is broken: the registry client reports "no alias" only when MLflow says so, and names the
server when MLflow cannot answer (real MLflow from the lab; a real HTTP server that answers 500 for the failure)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cxops.errors import CxopsError
from cxops.registry.client import Registry

pytestmark = pytest.mark.integration


class _Broken(BaseHTTPRequestHandler):
    """Healthy by /health, 500 for every API call: an MLflow whose database went away."""

    def _answer(self) -> None:
        ok = self.path.startswith("/health")
        body = b"OK" if ok else b'{"error_code": "INTERNAL_ERROR", "message": "database is locked"}'
        self.send_response(200 if ok else 500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def broken_mlflow(monkeypatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    yield url
    server.shutdown()
    server.server_close()


def test_a_missing_alias_is_none_and_a_missing_version_says_so(cfg):
    registry = Registry(cfg)
    assert registry.alias_version("no-such-alias") is None
    registry.delete_alias("no-such-alias")  # already absent: fine
    with pytest.raises(CxopsError, match="does not exist"):
        registry.version("99999")


def test_a_failing_server_is_an_error_naming_it_not_an_absent_alias(cfg, broken_mlflow: str):
    registry = Registry(cfg)
    with pytest.raises(CxopsError) as exc:
        registry.alias_version("production")
    assert broken_mlflow in str(exc.value) and "does not exist" not in str(exc.value)
    with pytest.raises(CxopsError, match=broken_mlflow):
        registry.delete_alias("canary-previous")
    with pytest.raises(CxopsError, match=broken_mlflow):
        registry.versions()
    with pytest.raises(CxopsError) as exc:
        registry.version("1")
    assert "does not exist" not in str(exc.value)
