"""A real Prometheus for the integration tests that read the gate's evidence from one (the apt package `make test`
installs): one definition of how it is configured, started, awaited and stopped."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import free_port, serving_process

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def scrape_job(name: str, targets: list[str], labels: dict[str, str] | None = None) -> str:
    """One `scrape_configs` entry: job `name` scraping `targets` (host:port), its series labelled with `labels`."""
    listed = ", ".join(f"'{t}'" for t in targets)
    extra = ", labels: {" + ", ".join(f"{k}: {v}" for k, v in labels.items()) + "}" if labels else ""
    return f"  - job_name: {name}\n    static_configs: [{{targets: [{listed}]{extra}}}]\n"


@contextmanager
def prometheus(root: Path, jobs: list[str]) -> Iterator[str]:
    """Prometheus on a free 127.0.0.1 port scraping `jobs` (`scrape_job` entries) every second, its data under
    `root`; yields its URL once /-/ready answers (bounded) and stops it after. Fails the test when it is not
    installed."""
    if not Path(PROMETHEUS).exists():
        pytest.fail("prometheus is not installed; `make test` installs it (apt-get install prometheus)")
    config = "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n" + "".join(jobs)
    (root / "prometheus.yml").write_text(config)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        PROMETHEUS,
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with serving_process(argv, f"{url}/-/ready"):
        yield url
