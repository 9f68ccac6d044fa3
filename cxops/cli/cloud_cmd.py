"""`cxops cloud`: placeholder until its issue fills it in."""

from __future__ import annotations

import typer

app = typer.Typer(help="Probe the OpenStack cloud: ping, images, flavors, networks, quotas, servers, GPU capacity.", no_args_is_help=True)
