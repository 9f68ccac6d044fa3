"""GPU flavors with several PCI aliases (issue 26, class 2): `pci_passthrough:alias = nvme:1,a100:2`.

Nova's alias extra spec is a comma-separated list of `name[:count]`. Every alias is read; the flavor is counted by
the alias whose name is a GPU aggregate's gpu_type, and a running server holds, on its host, its flavor's alias of
that host's GPU type. Pure functions of plain data, as tests/unit/test_cloud_gpus.py (no cloud here).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxops.cloud.gpus import BadGpuRequest, aggregate_capacity, flavor_gpu_request, pci_aliases
from cxops.cloud.jobs import gpu_of_flavor

HYPERVISORS = [{"name": n, "state": "up", "status": "enabled"} for n in ("a1", "a2", "v1")]
AGGREGATES = [
    {"name": "A100", "hosts": ["a1", "a2"], "metadata": {"gpu": "true", "gpu_count": "4", "gpu_type": "A100"}},
    {"name": "V100", "hosts": ["v1"], "metadata": {"gpu": "true", "gpu_count": "2", "gpu_type": "V100"}},
]
NVME_A100 = {"pci_passthrough:alias": "nvme:1,a100:2"}
FLAVORS = [
    {"name": "g.a100x2.nvme", "disabled": False, "extra_specs": NVME_A100},
    {"name": "g.v100", "disabled": False, "extra_specs": {"pci_passthrough:alias": "V100:1"}},
    {"name": "s.nvme", "disabled": False, "extra_specs": {"pci_passthrough:alias": "nvme:2"}},
]
SERVERS = [{"host": "a1", "status": "ACTIVE", "extra_specs": NVME_A100}]


def _rows(caps):
    return {c.flavor: (c.gpu_type, c.gpus_per_instance, c.total, c.available) for c in caps}


def test_a_flavor_is_counted_by_the_alias_a_gpu_aggregate_offers():
    rows = _rows(aggregate_capacity(FLAVORS, AGGREGATES, HYPERVISORS, SERVERS))
    # 2 hosts x 4 A100 = 4 instances of 2; the running server holds 2 of a1's 4
    assert rows["g.a100x2.nvme"] == ("a100", 2, 4, 3)
    assert rows["g.v100"] == ("V100", 1, 2, 2)
    assert "s.nvme" not in rows  # an NVMe-only flavor asks for no GPU an aggregate offers


def test_running_servers_hold_the_gpus_of_their_hosts_type():
    servers = [*SERVERS, {"host": "a2", "status": "ACTIVE", "extra_specs": {"pci_passthrough:alias": "nvme:1,A100:3"}}]
    rows = _rows(aggregate_capacity(FLAVORS, AGGREGATES, HYPERVISORS, servers))
    assert rows["g.a100x2.nvme"] == ("a100", 2, 4, 1)  # a1: 2 free → 1; a2: 1 free → 0


def test_several_gpu_types_in_one_flavor_are_a_warning_not_a_guess():
    both = {"name": "g.both", "disabled": False, "extra_specs": {"pci_passthrough:alias": "a100:1,v100:1"}}
    warnings: list[str] = []
    rows = _rows(aggregate_capacity([*FLAVORS, both], AGGREGATES, HYPERVISORS, SERVERS, warnings))
    assert "g.both" not in rows
    assert warnings == [
        "flavor 'g.both': pci_passthrough:alias 'a100:1,v100:1' asks for several GPU types (a100, v100); a GPU "
        "aggregate offers one type per host; skipped"
    ]


def test_a_job_asking_for_a_gpu_finds_it_among_the_aliases():
    flavor = SimpleNamespace(extra_specs=NVME_A100)  # what openstacksdk's Flavor carries that matters here
    assert gpu_of_flavor(flavor, "A100") == ("a100", 2)
    assert gpu_of_flavor(flavor, "v100") is None
    assert flavor_gpu_request(NVME_A100, ["A100"]).aliases == (("nvme", 1), ("a100", 2))


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("a100:2,", "empty alias name"), ("a100:2,a100:1", "names 'a100' twice"), ("nvme:1,a100:x", "count 'x'")],
)
def test_malformed_alias_lists_are_refused_naming_the_spec(spec, needle):
    with pytest.raises(BadGpuRequest, match=needle):
        pci_aliases(spec)


alias_name = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789_-."), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    aliases=st.lists(st.tuples(alias_name, st.integers(1, 16)), min_size=1, max_size=5, unique_by=lambda a: a[0]),
    spaces=st.lists(st.sampled_from(["", " ", "  "]), min_size=10, max_size=10),
    implicit_one=st.booleans(),
)
def test_property_every_alias_is_read_back(aliases, spaces, implicit_one):
    parts = [
        f"{spaces[i % 10]}{name}{'' if implicit_one and count == 1 else f':{count}'}{spaces[(i + 3) % 10]}"
        for i, (name, count) in enumerate(aliases)
    ]
    assert pci_aliases(",".join(parts)) == tuple(aliases)
    for i, (name, count) in enumerate(aliases):  # whichever alias an aggregate offers is the request
        req = flavor_gpu_request({"pci_passthrough:alias": ",".join(parts)}, [name.upper()])
        assert req is not None and (req.gpu_type, req.count) == (name, count), i


@settings(max_examples=200, deadline=None)
@given(spec=st.text(max_size=30))
def test_property_any_spec_parses_or_is_refused_cleanly(spec):
    try:
        aliases = pci_aliases(spec)
    except BadGpuRequest as exc:
        assert repr(spec) in str(exc)
        return
    assert aliases and all(name and count > 0 for name, count in aliases)
