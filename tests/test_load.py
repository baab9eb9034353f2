"""The lab's load generator (bench/load.py) counts what failed and says when: against a local server that fails
some of its requests on purpose. No lab needed."""
from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import Load


class _Flaky(BaseHTTPRequestHandler):
    """Answers 200, except every fourth request, which gets a 502."""
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.server.lock:
            self.server.count += 1
            status = 502 if self.server.count % 4 == 0 else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    do_GET = do_POST = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def flaky():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    server.count, server.lock = 0, threading.Lock()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_failures_are_counted_by_kind_and_the_first_ones_timed(flaky) -> None:
    load = Load(f"http://127.0.0.1:{flaky.server_address[1]}", rate=200, workers=4, max_requests=80).start()
    deadline = time.monotonic() + 20
    while load.result.sent < 80 and time.monotonic() < deadline:
        time.sleep(0.05)
    figures = load.stop().summary()
    assert figures["sent"] == 80 == flaky.count
    assert figures["failed"] == 20 and figures["errors"] == {"HTTP 502": 20}
    assert len(figures["first_failures"]) == 10  # only the first ten, each with its wall-clock time
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} HTTP 502", f) for f in figures["first_failures"])


def test_load_only_goes_to_loopback() -> None:
    with pytest.raises(ValueError, match="loopback addresses only"):
        Load("http://192.0.2.1:8080", rate=10)


class _Counting(_Flaky):
    """Answers 200 always, and counts the connections it was asked on."""

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.server.lock:
            self.server.count += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    do_GET = do_POST = _answer


@pytest.mark.parametrize(("keep_alive", "connections"), [(True, 2), (False, 40)])
def test_keep_alive_off_opens_a_connection_per_request(keep_alive: bool, connections: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    server.count, server.connections, server.lock = 0, 0, threading.Lock()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        load = Load(f"http://127.0.0.1:{server.server_address[1]}", rate=200, workers=2, max_requests=40,
                    keep_alive=keep_alive).start()
        deadline = time.monotonic() + 20
        while load.result.sent < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        figures = load.stop().summary()
    finally:
        server.shutdown()
        server.server_close()
    assert figures["sent"] == 40 and figures["failed"] == 0
    assert server.connections == connections
