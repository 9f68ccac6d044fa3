"""GPU capacity maths without a cloud: the seed service's documented scenario and its bugs, fixed."""

from __future__ import annotations

from cxops.cloud.gpus import aggregate_capacity, flavor_gpu_request, placement_capacity

HYPERVISORS = [{"name": n, "state": "up", "status": "enabled"} for n in ("cpu1", "gpu1", "gpu2")]
AGGREGATES = [
    {
        "name": "Delta GPU V100",
        "hosts": ["gpu1", "gpu2"],
        "metadata": {"gpu": "True", "gpu_count": "2", "gpu_type": "V100", "cores": "28"},
    },
    {"name": "CPU", "hosts": ["cpu1"], "metadata": {"gpu": "False", "gpu_count": "4", "gpu_type": "V100"}},
]
FLAVORS = [
    {"name": "de.NBI large", "disabled": False, "extra_specs": {}},
    {"name": "de.NBI GPU V100 medium", "disabled": False, "extra_specs": {"pci_passthrough:alias": "V100:1"}},
    {"name": "de.NBI GPU V100 large", "disabled": False, "extra_specs": {"pci_passthrough:alias": "V100:1"}},
    {"name": "de.NBI 2 GPU V100 large", "disabled": False, "extra_specs": {"pci_passthrough:alias": "V100:2"}},
]
SERVERS = [
    {"host": "cpu1", "status": "ACTIVE", "extra_specs": {}},
    {"host": "gpu1", "status": "ACTIVE", "extra_specs": {"pci_passthrough:alias": "V100:1"}},
]


def _rows(caps):
    return {c.flavor: (c.total, c.available) for c in caps}


def test_seed_scenario():
    assert _rows(aggregate_capacity(FLAVORS, AGGREGATES, HYPERVISORS, SERVERS)) == {
        "de.NBI GPU V100 medium": (4, 3),
        "de.NBI GPU V100 large": (4, 3),
        "de.NBI 2 GPU V100 large": (2, 1),
    }


def test_disabled_flavor_is_skipped():
    flavors = [*FLAVORS, {"name": "old", "disabled": True, "extra_specs": {"pci_passthrough:alias": "V100:1"}}]
    assert "old" not in _rows(aggregate_capacity(flavors, AGGREGATES, HYPERVISORS, SERVERS))


def test_gpu_false_aggregate_does_not_count():
    # the CPU aggregate says gpu_count=4 and gpu_type=V100 but gpu='False': totals stay at 2 hosts x 2
    assert _rows(aggregate_capacity(FLAVORS, AGGREGATES, HYPERVISORS, []))["de.NBI GPU V100 medium"] == (4, 4)


def test_unknown_host_is_a_warning_not_a_crash():
    aggs = [{**AGGREGATES[0], "hosts": ["gpu1", "gpu2", "gone9"]}]
    warnings: list[str] = []
    rows = _rows(aggregate_capacity(FLAVORS, aggs, HYPERVISORS, SERVERS, warnings))
    assert rows["de.NBI GPU V100 medium"] == (4, 3)
    assert warnings == [
        "aggregate 'Delta GPU V100' lists host 'gone9', which is no hypervisor's compute service host; skipped"
    ]


def test_repeated_measurements_do_not_grow():
    first = aggregate_capacity(FLAVORS, AGGREGATES, HYPERVISORS, SERVERS)
    second = aggregate_capacity(FLAVORS, AGGREGATES, HYPERVISORS, SERVERS)
    assert _rows(first) == _rows(second) and [c.hosts for c in first] == [c.hosts for c in second]


def test_disabled_hypervisor_counts_in_total_not_available():
    hvs = [{**h, "status": "disabled"} if h["name"] == "gpu2" else h for h in HYPERVISORS]
    assert _rows(aggregate_capacity(FLAVORS, AGGREGATES, hvs, SERVERS))["de.NBI GPU V100 medium"] == (4, 1)


def test_errored_or_deleted_servers_hold_no_gpu():
    servers = [{**SERVERS[1], "status": "ERROR"}]
    assert _rows(aggregate_capacity(FLAVORS, AGGREGATES, HYPERVISORS, servers))["de.NBI GPU V100 medium"] == (4, 4)


def test_flavor_requests():
    assert flavor_gpu_request({"pci_passthrough:alias": "A100:2"}).count == 2
    assert flavor_gpu_request({"resources:VGPU": "1"}).source == "placement"
    assert flavor_gpu_request({"resources1:CUSTOM_GPU_A100": "2"}).gpu_type == "CUSTOM_GPU_A100"
    assert flavor_gpu_request({"resources:VCPU": "2"}) is None
    assert flavor_gpu_request({"resources:VGPU": "0"}) is None


def test_placement_capacity_respects_reserved_ratio_and_max_unit():
    flavors = [
        {"name": "v1", "disabled": False, "extra_specs": {"resources:VGPU": "1"}},
        {"name": "v4", "disabled": False, "extra_specs": {"resources:VGPU": "4"}},
    ]
    providers = [
        {
            "name": "a",
            "inventories": {"VGPU": {"total": 8, "reserved": 2, "allocation_ratio": 1.0, "max_unit": 8}},
            "usages": {"VGPU": 3},
        },
        {
            "name": "b",
            "inventories": {"VGPU": {"total": 4, "reserved": 0, "allocation_ratio": 1.0, "max_unit": 2}},
            "usages": {"VGPU": 0},
        },
    ]
    # a: capacity 6, free 3; b: capacity 4, free 4 but one instance may take at most 2
    assert _rows(placement_capacity(flavors, providers)) == {"v1": (10, 7), "v4": (1, 0)}


def test_hosts_join_on_the_hypervisors_service_host_not_its_fqdn():
    """Aggregates list service hosts; libvirt hypervisors are often named by FQDN (issue 13, class 6)."""
    hvs = [
        {"name": f"{n}.example.org", "service_host": n, "state": "up", "status": "enabled"}
        for n in ("cpu1", "gpu1", "gpu2")
    ]
    warnings: list[str] = []
    caps = aggregate_capacity(FLAVORS, AGGREGATES, hvs, SERVERS, warnings)
    assert _rows(caps)["de.NBI GPU V100 medium"] == (4, 3) and warnings == []
    assert caps[0].hosts == ["gpu1", "gpu2"]


def test_a_flavor_with_a_bad_gpu_count_is_skipped_with_a_warning():
    bad = [
        {"name": "g.zero", "disabled": False, "extra_specs": {"pci_passthrough:alias": "a100:0"}},
        {"name": "g.two", "disabled": False, "extra_specs": {"pci_passthrough:alias": "a100:two"}},
        {"name": "g.neg", "disabled": False, "extra_specs": {"pci_passthrough:alias": "a100:-1"}},
        {"name": "v.two", "disabled": False, "extra_specs": {"resources:VGPU": "two"}},
    ]
    warnings: list[str] = []
    rows = _rows(aggregate_capacity([*FLAVORS, *bad], AGGREGATES, HYPERVISORS, SERVERS, warnings))
    assert rows["de.NBI GPU V100 medium"] == (4, 3) and not set(rows) & {"g.zero", "g.two", "g.neg"}
    assert warnings == [
        "flavor 'g.zero': pci_passthrough:alias 'a100:0' has count '0'; expected a positive integer; skipped",
        "flavor 'g.two': pci_passthrough:alias 'a100:two' has count 'two'; expected a positive integer; skipped",
        "flavor 'g.neg': pci_passthrough:alias 'a100:-1' has count '-1'; expected a positive integer; skipped",
        "flavor 'v.two': resources:VGPU has count 'two'; expected a non-negative integer; skipped",
    ]
    assert "v.two" not in _rows(placement_capacity(bad, []))
