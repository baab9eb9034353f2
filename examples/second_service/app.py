"""A second service for the collection's end-to-end test: nothing like the reference one.

Python's standard library only; listens on $PORT (9000); health on /livez and /readyz (no version endpoint);
metrics under other names than the reference service's (notes_requests_total{path,code} and the histogram
notes_request_seconds), so that the SLO gate's name mapping is exercised; no database, no Redis. GET / says which
release answers; GET /whoami echoes the headers the per-host proxy passed (Host with its port, X-Forwarded-*).
On SIGTERM it stops accepting, finishes the requests in flight and exits."""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "0")
PORT = int(os.environ.get("PORT", "9000"))
READY_AFTER = time.monotonic() + float(os.environ.get("READY_DELAY", "0.5"))
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

_lock = threading.Lock()
# Connections waiting for their next request (keep-alive): closed at once on SIGTERM, busy ones finish first.
_idle: set = set()
_stopping = threading.Event()
_requests: dict[tuple[str, str], int] = {}
_latency: dict[str, list[float]] = {}


def _observe(path: str, code: int, seconds: float) -> None:
    with _lock:
        _requests[(path, str(code))] = _requests.get((path, str(code)), 0) + 1
        counts = _latency.setdefault(path, [0] * (len(BUCKETS) + 2))  # buckets..., +Inf, sum
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[len(BUCKETS)] += 1
        counts[len(BUCKETS) + 1] += seconds


def _metrics() -> str:
    lines = ["# TYPE notes_requests_total counter"]
    with _lock:
        for (path, code), n in sorted(_requests.items()):
            lines.append(f'notes_requests_total{{path="{path}",code="{code}"}} {n}')
        lines.append("# TYPE notes_request_seconds histogram")
        for path, counts in sorted(_latency.items()):
            for i, bound in enumerate(BUCKETS):
                lines.append(f'notes_request_seconds_bucket{{path="{path}",le="{bound}"}} {counts[i]}')
            lines.append(f'notes_request_seconds_bucket{{path="{path}",le="+Inf"}} {counts[len(BUCKETS)]}')
            lines.append(f'notes_request_seconds_count{{path="{path}"}} {counts[len(BUCKETS)]}')
            lines.append(f'notes_request_seconds_sum{{path="{path}"}} {counts[len(BUCKETS) + 1]}')
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections stay open longer than the proxy keeps them (4 s).
    timeout = 15
    server_version = "notes"

    def log_message(self, *args) -> None:  # quiet: the proxy and Prometheus see everything
        pass

    def handle_one_request(self) -> None:
        with _lock:
            _idle.add(self.connection)
        try:
            super().handle_one_request()
        finally:
            with _lock:
                _idle.discard(self.connection)
        if _stopping.is_set():
            self.close_connection = True

    def parse_request(self) -> bool:
        with _lock:
            _idle.discard(self.connection)
        return super().parse_request()

    def _send(self, code: int, body: str, ctype: str = "application/json") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        start = time.monotonic()
        path = self.path.split("?", 1)[0]
        if path == "/livez":
            code, body = 200, json.dumps({"status": "alive"})
        elif path == "/readyz":
            ready = time.monotonic() >= READY_AFTER
            code, body = (200 if ready else 503), json.dumps({"ready": ready})
        elif path == "/whoami":
            code, body = 200, json.dumps({k.lower(): v for k, v in self.headers.items()})
        elif path == "/metrics":
            self._send(200, _metrics(), "text/plain; version=0.0.4")
            return
        elif path == "/":
            code, body = 200, json.dumps({"service": "notes", "release": VERSION})
        else:
            code, body = 404, json.dumps({"error": "not found"})
        self._send(code, body)
        _observe(path if code != 404 else "other", code, time.monotonic() - start)


def main() -> None:
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = False  # SIGTERM waits for the requests in flight
    server.block_on_close = True

    def stop(*_: object) -> None:
        _stopping.set()
        with _lock:
            for conn in list(_idle):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever(poll_interval=0.2)
    server.server_close()


if __name__ == "__main__":
    main()
