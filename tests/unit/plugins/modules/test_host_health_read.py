"""host_health_read's dependency probe against real sockets on 127.0.0.1, and its output read by the verdict's
filter. No Ansible run."""
from __future__ import annotations

import socket
import threading
import time

import ansible_collections.steady.deploy.plugins.modules.host_health_read as read
from ansible_collections.steady.deploy.plugins.filter.host_health import host_health_summary


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_listening_port_is_reached_at_once() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        started = time.monotonic()
        assert read.reach("127.0.0.1", sock.getsockname()[1], timeout=5) == {"failed": False, "state": "started"}
        assert time.monotonic() - started < 1


def test_a_closed_port_fails_after_the_timeout_and_says_which() -> None:
    port = _closed_port()
    started = time.monotonic()
    found = read.reach("127.0.0.1", port, timeout=1, interval=0.2)
    assert found["failed"] is True and f"Timeout when waiting for 127.0.0.1:{port}" in found["msg"]
    assert 0.7 <= time.monotonic() - started < 2


def test_a_port_that_opens_within_the_timeout_is_reached() -> None:
    port = _closed_port()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def open_later() -> None:
        time.sleep(0.5)
        sock.bind(("127.0.0.1", port))
        sock.listen()

    opener = threading.Thread(target=open_later)
    opener.start()
    try:
        assert read.reach("127.0.0.1", port, timeout=5, interval=0.2) == {"failed": False, "state": "started"}
    finally:
        opener.join()
        sock.close()


def test_the_verdict_reads_what_the_module_returns() -> None:
    deps = [{"name": "database", "host": "127.0.0.1", "port": _closed_port()}]
    reached = [read.reach("127.0.0.1", deps[0]["port"], timeout=0.3, interval=0.1)]
    df = ("Filesystem 1024-blocks Used Available Capacity Mounted on\n"
          "overlay 1000 500 500 50% /\n")
    meminfo = "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\n"
    verdict = host_health_summary(df, meminfo, deps, reached, 10, 80)
    assert verdict["failures"] == [f"database (127.0.0.1:{deps[0]['port']}) cannot be reached"]
    assert verdict["memory_used_percent"] == 40.0 and verdict["disk"] == [{"path": "/", "free_percent": 50.0}]
