"""A bounded, paced HTTP load generator for the lab: constant rate, hard caps on requests and time.

Every request is one of a small mix that exercises the service's real path (database and Redis): mostly
reads of recent items, some writes. A request fails when it gets anything but 2xx, or no answer at all.
Used by the tests and by bench/deploy_bench.py; it only ever targets loopback addresses."""
from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Result:
    sent: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    # When the first few failures happened (wall clock, to line up with a playbook's log) and what they were.
    first_failures: list[str] = field(default_factory=list)
    started: float = 0.0
    stopped: float = 0.0

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, float | int | dict[str, int]]:
        seconds = max(self.stopped - self.started, 1e-9)
        return {"sent": self.sent, "failed": self.failed, "seconds": round(seconds, 2),
                "rate": round(self.sent / seconds, 1), "p50_ms": round(self.quantile(0.50) * 1000, 1),
                "p99_ms": round(self.quantile(0.99) * 1000, 1), "errors": dict(self.errors),
                "first_failures": list(self.first_failures)}


class Load:
    """Runs in background threads between start() and stop(); never past max_seconds or max_requests."""

    def __init__(self, url: str, rate: float, workers: int = 16, max_seconds: float = 300,
                 max_requests: int = 200_000, write_ratio: float = 0.2, timeout: float = 10,
                 nice: int = 0, path: str = "/items?limit=5", keep_alive: bool = True) -> None:
        parts = urlsplit(url)
        if not ipaddress.ip_address(parts.hostname or "").is_loopback:
            raise ValueError(f"load goes to loopback addresses only, not {parts.hostname}")
        if rate <= 0 or workers <= 0 or max_seconds <= 0 or max_requests <= 0:
            raise ValueError("rate, workers, max_seconds and max_requests must be positive")
        self.host, self.port = parts.hostname, parts.port or 80
        self.interval = workers / rate
        self.workers, self.max_seconds, self.max_requests = workers, max_seconds, max_requests
        # The reference service's read path, and a write (POST /items) every 1/write_ratio requests; another
        # service names the path it reads and sets write_ratio=0.
        self.path = path
        self.write_every = int(1 / write_ratio) if write_ratio > 0 else 0
        self.timeout = timeout
        # The clients' threads may yield the CPU to everything else (on Linux the nice value is per thread): on a
        # small machine the load generator otherwise competes with the very deploy it measures.
        self.nice = nice
        # keep_alive=False: every request on a connection of its own. Straight at a host's nginx this measures
        # only what the host serves: nginx closes its idle keep-alive connections when it reloads, and a client
        # that sends on one at that moment gets no answer (a balancer, like the lab's HAProxy, sends again on a
        # fresh connection; a bare client does not).
        self.keep_alive = keep_alive
        self.result = Result()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "Load":
        self.result.started = time.monotonic()
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> Result:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        self.result.stopped = time.monotonic()
        return self.result

    def __enter__(self) -> "Load":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _request(self, conn: http.client.HTTPConnection, i: int) -> None:
        if self.write_every and i % self.write_every == 0:
            body = json.dumps({"name": f"load-{i}"})
            conn.request("POST", "/items", body=body, headers={"Content-Type": "application/json"})
        else:
            conn.request("GET", self.path)
        response = conn.getresponse()
        response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"HTTP {response.status}")

    def _work(self, n: int) -> None:
        if self.nice:
            os.setpriority(os.PRIO_PROCESS, 0, self.nice)  # this thread only
        deadline = self.result.started + self.max_seconds
        next_at = time.monotonic() + (n / self.workers) * self.interval
        conn: http.client.HTTPConnection | None = None
        i = n
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                if self.result.sent >= self.max_requests:
                    return
                self.result.sent += 1
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            next_at += self.interval
            began = time.monotonic()
            try:
                conn = conn or http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self._request(conn, i)
                error = None
                if not self.keep_alive:
                    conn.close()
                    conn = None
            except Exception as exc:  # every way a request can go wrong counts as a failure
                error = type(exc).__name__ if not isinstance(exc, RuntimeError) else str(exc)
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = time.monotonic() - began
            with self._lock:
                self.result.latencies.append(elapsed)
                if error:
                    self.result.failed += 1
                    self.result.errors[error] = self.result.errors.get(error, 0) + 1
                    if len(self.result.first_failures) < 10:
                        at = time.time() - elapsed
                        self.result.first_failures.append(
                            f"{time.strftime('%H:%M:%S', time.localtime(at))}.{int(at % 1 * 1000):03d} {error}")
            i += self.workers
        if conn is not None:
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    load = Load(args.url, args.rate, args.workers, max_seconds=args.seconds).start()
    time.sleep(args.seconds)
    print(json.dumps(load.stop().summary()))


if __name__ == "__main__":
    main()
