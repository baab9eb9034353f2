"""host_health's verdict from `df -P -k`, /proc/meminfo and the dependency probes. Pure Python: no lab."""
from __future__ import annotations

import pytest

import ansible_collections.steady.deploy.plugins.filter.host_health as host_health

# `df -P -k / /var/lib/docker`: / has 25.0% free, /var/lib/docker 4.0%.
DF = """\
Filesystem     1024-blocks     Used Available Capacity Mounted on
overlay           40000000 29000000  10000000      75% /
/dev/sdb1        100000000 94000000   4000000      96% /var/lib/docker
"""
DF_ALL_FINE = """\
Filesystem     1024-blocks     Used Available Capacity Mounted on
overlay           40000000 29000000  10000000      75% /
/dev/sdb1        100000000 50000000  50000000      50% /var/lib/docker
"""


def meminfo(total: int = 16000000, available: int = 8000000, free: int = 1000000) -> str:
    """/proc/meminfo as the kernel writes it (kB), including keys with parentheses."""
    return (f"MemTotal:       {total} kB\n"
            f"MemFree:        {free} kB\n"
            f"MemAvailable:   {available} kB\n"
            "Buffers:          212340 kB\n"
            "Cached:          5123456 kB\n"
            "SwapCached:            0 kB\n"
            "Active(anon):    2345678 kB\n"
            "HugePages_Total:       0\n"
            "Hugepagesize:       2048 kB\n")


DEPS = [{"name": "postgres", "host": "db.internal", "port": 5432},
        {"name": "redis", "host": "cache.internal", "port": "6379"}]
# Per dependency, what a registered wait_for loop leaves in `.results`.
REACHED = {"failed": False, "changed": False, "elapsed": 0, "port": 5432, "state": "started"}
NOT_REACHED = {"failed": True, "elapsed": 5, "msg": "Timeout when waiting for cache.internal:6379"}


def summary(df: str = DF_ALL_FINE, mem: str | None = None, deps: list | None = None, reach: list | None = None,
            min_free: float = 10, max_used: float = 80) -> dict:
    return host_health.host_health_summary(df, meminfo() if mem is None else mem, DEPS if deps is None else deps,
                                           [REACHED, REACHED] if reach is None else reach, min_free, max_used)


def test_all_fine_has_no_failures() -> None:
    result = summary()
    assert result["failures"] == []
    assert result["disk"] == [{"path": "/", "free_percent": 25.0}, {"path": "/var/lib/docker", "free_percent": 50.0}]
    assert result["memory_used_percent"] == 50.0
    assert result["dependencies"] == [
        {"name": "postgres", "host": "db.internal", "port": 5432, "reachable": True},
        {"name": "redis", "host": "cache.internal", "port": 6379, "reachable": True},
    ]


def test_a_disk_below_the_threshold_is_reported_with_its_path() -> None:
    result = summary(df=DF)
    assert result["disk"] == [{"path": "/", "free_percent": 25.0}, {"path": "/var/lib/docker", "free_percent": 4.0}]
    assert result["failures"] == ["disk: 4.0% free under /var/lib/docker (at least 10% wanted)"]


def test_a_disk_exactly_at_the_threshold_is_fine() -> None:
    assert summary(df=DF, min_free=4)["failures"] == []


def test_memory_above_the_threshold_is_reported() -> None:
    result = summary(mem=meminfo(total=16000000, available=1600000))
    assert result["memory_used_percent"] == 90.0
    assert result["failures"] == ["memory: 90.0% in use (at most 80% wanted)"]


def test_memory_falls_back_to_memfree_without_memavailable() -> None:
    # Kernels before 3.14 have no MemAvailable.
    old = "MemTotal:        4000000 kB\nMemFree:          400000 kB\nBuffers:           10000 kB\n"
    result = summary(mem=old)
    assert result["memory_used_percent"] == 90.0
    assert result["failures"] == ["memory: 90.0% in use (at most 80% wanted)"]


def test_an_unreachable_dependency_is_reported() -> None:
    result = summary(reach=[REACHED, NOT_REACHED])
    assert [d["reachable"] for d in result["dependencies"]] == [True, False]
    assert result["failures"] == ["redis (cache.internal:6379) cannot be reached"]


def test_every_problem_is_reported_at_once() -> None:
    result = summary(df=DF, mem=meminfo(available=800000), reach=[NOT_REACHED, REACHED])
    assert result["failures"] == [
        "disk: 4.0% free under /var/lib/docker (at least 10% wanted)",
        "memory: 95.0% in use (at most 80% wanted)",
        "postgres (db.internal:5432) cannot be reached",
    ]


def test_no_dependencies_is_fine() -> None:
    result = summary(deps=[], reach=[])
    assert result["dependencies"] == []
    assert result["failures"] == []


@pytest.mark.parametrize("bad", ["", "MemFree:  1000 kB\nMemAvailable:  2000 kB\n", "MemTotal:  0 kB\n"])
def test_meminfo_without_memtotal_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="no MemTotal"):
        summary(mem=bad)


def test_an_unreachable_dependency_as_the_role_registers_it_is_reported() -> None:
    # With `failed_when: false`, Ansible sets failed = failed_when_result = False even when wait_for timed out;
    # only msg/elapsed (and the missing `state`) tell that the port never answered.
    timed_out = {"failed": False, "failed_when_result": False, "elapsed": 5,
                 "msg": "Timeout when waiting for cache.internal:6379"}
    result = summary(reach=[REACHED, timed_out])
    assert result["failures"] == ["redis (cache.internal:6379) cannot be reached"]
