"""docs/models.md's "Requests to paste" run as pasted (bash, the real curl) against a real lab that `make demo`'s two
commands brought to production, and the servers' /docs page loads nothing from another host.

The lab here has free ports (another lab may run on this machine): the only change made to the pasted text is the
two port numbers in its `E=` and `P=` lines, replaced by this lab's `lab.endpoint_port` and
`environments.production.port`.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest
import yaml
from helpers import REPO, cli, make_project

pytestmark = pytest.mark.integration

SECTION = "## Requests to paste"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A project whose lab serves a version in production: `cxops lab up`, then `cxops pipeline run`."""
    config = make_project(tmp_path_factory.mktemp("docs-requests"))
    up = cli(config, "lab", "up", timeout=240)
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        run = cli(config, "pipeline", "run", "--json", timeout=900)
        assert run.returncode == 0, run.stderr + run.stdout
        doc = yaml.safe_load(config.read_text())
        yield {
            "config": config,
            "endpoint": doc["lab"]["endpoint_port"],
            "production": doc["environments"]["production"]["port"],
            "model": doc["model"]["name"],
            "version": str(json.loads(run.stdout)["version"]),
        }
    finally:
        down = cli(config, "lab", "down", timeout=120)
        assert down.returncode == 0, down.stderr


def pasted_block() -> str:
    """The one sh block of the section, as a user would copy it."""
    text = (REPO / "docs" / "models.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 1, f"{SECTION}: expected one sh block, found {len(blocks)}"
    return blocks[0]


def commands(block: str) -> tuple[list[str], list[str]]:
    """(assignments, curl commands): logical lines (continuations joined), comments dropped."""
    lines = re.sub(r"\\\n\s*", " ", block).splitlines()
    logical = [ln.split("   #", 1)[0].strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    assigns = [ln for ln in logical if re.match(r"^[A-Z]+=", ln)]
    curls = [ln for ln in logical if ln.startswith("curl ")]
    assert len(assigns) + len(curls) == len(logical), logical
    return assigns, curls


def test_the_docs_name_the_shipped_ports():
    shipped = yaml.safe_load((REPO / "cxops.yaml").read_text())
    assigns, curls = commands(pasted_block())
    ports = dict(re.findall(r"^([EP])=http://127\.0\.0\.1:(\d+)$", "\n".join(assigns), re.M))
    assert ports == {
        "E": str(shipped["lab"]["endpoint_port"]),
        "P": str(shipped["environments"]["production"]["port"]),
    }
    paths = {re.search(r"\$[EP](/\S*)", c).group(1) for c in curls}  # type: ignore[union-attr]
    name = shipped["model"]["name"]
    assert {"/predict", "/explain", "/invocations", f"/v2/models/{name}/infer", "/version"} <= paths
    for protocol in ("/predict", "/invocations", f"/v2/models/{name}/infer"):  # each protocol on both ports
        assert {f"$E{protocol}", f"$P{protocol}"} <= {c.split()[2] for c in curls}, protocol


def test_every_pasted_request_answers(demo: dict):
    assigns, curls = commands(pasted_block())
    prelude = []
    for a in assigns:
        a = re.sub(r"^E=http://127\.0\.0\.1:\d+$", f"E=http://127.0.0.1:{demo['endpoint']}", a)
        a = re.sub(r"^P=http://127\.0\.0\.1:\d+$", f"P=http://127.0.0.1:{demo['production']}", a)
        prelude.append(a)
    assert any(f":{demo['endpoint']}" in a for a in prelude) and any(f":{demo['production']}" in a for a in prelude)
    for command in curls:
        script = "\n".join([*prelude, command])
        res = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, f"{command}: curl exit {res.returncode}: {res.stderr}"
        try:
            body = json.loads(res.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"{command}: not JSON: {res.stdout[:300]!r}")
        path = command.split()[2]
        if path.endswith("/predict"):
            assert body["predictions"] == [0] and 0 < body["confidence"][0] <= 1, body
            assert body["version"] == demo["version"]
        elif path.endswith("/explain"):
            assert len(body["probabilities"][0]) == 10 and len(body["contributions"][0]) == 64, body
        elif path.endswith("/invocations"):
            proba = body["predictions"][0]
            assert len(proba) == 10 and max(range(10), key=proba.__getitem__) == 0, body
        elif path.endswith("/infer"):
            outputs = {o["name"]: o for o in body["outputs"]}
            assert outputs["predictions"]["data"] == [0], body
        elif path.endswith("/version"):
            assert body["version"] == demo["version"] and body["env"] == "production", body
        else:
            pytest.fail(f"{command}: no check for {path}")


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("src", "href") and value:
                self.refs.append(value)


@pytest.mark.parametrize("port", ["production", "endpoint"])
def test_docs_page_loads_only_from_the_server(demo: dict, port: str):
    base = f"http://127.0.0.1:{demo[port]}"
    page = httpx.get(f"{base}/docs", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}", page.text), "the page names another host"
    parser = _Refs()
    parser.feed(page.text)
    scripts = [r for r in parser.refs if r.endswith(".js")]
    styles = [r for r in parser.refs if r.endswith(".css")]
    assert scripts and styles, parser.refs
    for ref in parser.refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        asset = httpx.get(f"{base}{ref}", timeout=30)
        assert asset.status_code == 200, f"{ref}: {asset.status_code}"
        kind = asset.headers["content-type"]
        if ref.endswith(".js"):
            assert "javascript" in kind and "SwaggerUIBundle" in asset.text, ref
        elif ref.endswith(".css"):
            assert kind.startswith("text/css") and ".swagger-ui" in asset.text, ref
    spec = re.search(r"url: '([^']+)'", page.text)
    assert spec is not None and httpx.get(f"{base}{spec.group(1)}", timeout=30).json()["paths"]
