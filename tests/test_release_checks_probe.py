"""release_checks_probe's run_check against a real HTTP server on 127.0.0.1: passes, failures, retries and the
JSON key check. No Docker, no Ansible run."""
from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


import ansible_collections.steady.deploy.plugins.modules.release_checks_probe as probe_module

VERSION_BODY = json.dumps({"version": "1.2.3", "build": 42})


class Handler(BaseHTTPRequestHandler):
    """/version: 200 JSON; /down: 503; /warming/N: 503 for the first N requests, then 200 JSON;
    /text: 200 plain text; /slow: answers after 1 s."""
    hits: Counter

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.server.hits[self.path] += 1
        count = self.server.hits[self.path]
        if self.path == "/version":
            self.answer(200, VERSION_BODY, "application/json")
        elif self.path == "/down":
            self.answer(503, "upstream not ready", "text/plain")
        elif self.path.startswith("/warming/"):
            if count <= int(self.path.rsplit("/", 1)[1]):
                self.answer(503, "warming up", "text/plain")
            else:
                self.answer(200, VERSION_BODY, "application/json")
        elif self.path == "/text":
            self.answer(200, "x" * 1000, "text/plain")
        elif self.path == "/slow":
            time.sleep(1)
            self.answer(200, VERSION_BODY, "application/json")
        else:
            self.answer(404, "not found", "text/plain")

    def answer(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.hits = Counter()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def base(srv: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def run(srv_or_url, check: dict, retries: int = 0, timeout: float = 2.0) -> dict:
    url = srv_or_url if isinstance(srv_or_url, str) else base(srv_or_url)
    return probe_module.run_check(url, check, retries=retries, delay=0, timeout=timeout)


def test_a_200_passes_on_the_first_attempt(server) -> None:
    result = run(server, {"path": "/version"}, retries=5)
    assert result == {"path": "/version", "status": 200, "passed": True, "got": None, "body": VERSION_BODY,
                      "attempts": 1}
    assert server.hits["/version"] == 1


def test_a_matching_json_key_passes(server) -> None:
    result = run(server, {"path": "/version", "json_key": "version", "expect": "1.2.3"}, retries=3)
    assert (result["passed"], result["status"], result["got"], result["attempts"]) == (True, 200, "1.2.3", 1)


def test_a_json_key_is_compared_as_text(server) -> None:
    # expect comes from YAML and may be an int; the answer's 42 is an int too, "42" must match either way.
    assert run(server, {"path": "/version", "json_key": "build", "expect": 42})["passed"] is True
    assert run(server, {"path": "/version", "json_key": "build", "expect": "42"})["passed"] is True


def test_a_json_key_mismatch_fails_and_says_what_it_got(server) -> None:
    result = run(server, {"path": "/version", "json_key": "version", "expect": "9.9.9"}, retries=2)
    assert result["passed"] is False
    assert result["status"] == 200
    assert result["got"] == "1.2.3"
    assert result["attempts"] == 3
    assert server.hits["/version"] == 3


def test_a_missing_json_key_fails_with_got_none(server) -> None:
    result = run(server, {"path": "/version", "json_key": "commit", "expect": "abc"})
    assert (result["passed"], result["got"]) == (False, None)


def test_a_body_that_is_not_json_fails_a_json_check(server) -> None:
    result = run(server, {"path": "/text", "json_key": "version", "expect": "1.2.3"})
    assert (result["passed"], result["status"], result["got"]) == (False, 200, None)
    assert result["body"] == "x" * 300  # only the first bytes are kept


def test_a_503_fails_after_every_retry(server) -> None:
    result = run(server, {"path": "/down"}, retries=3)
    assert result["passed"] is False
    assert result["status"] == 503
    assert result["body"] == "upstream not ready"
    assert result["attempts"] == 4
    assert server.hits["/down"] == 4


def test_an_endpoint_that_warms_up_passes_once_it_answers_200(server) -> None:
    result = run(server, {"path": "/warming/3", "json_key": "version", "expect": "1.2.3"}, retries=10)
    assert (result["passed"], result["status"], result["got"]) == (True, 200, "1.2.3")
    assert result["attempts"] == 4
    assert server.hits["/warming/3"] == 4


def test_too_few_retries_for_a_warming_endpoint_fail(server) -> None:
    result = run(server, {"path": "/warming/3"}, retries=2)
    assert (result["passed"], result["status"], result["attempts"]) == (False, 503, 3)


def test_a_404_fails(server) -> None:
    result = run(server, {"path": "/nope"})
    assert (result["passed"], result["status"], result["attempts"]) == (False, 404, 1)


def test_a_timeout_fails_with_status_0(server) -> None:
    result = run(server, {"path": "/slow"}, timeout=0.2)
    assert (result["passed"], result["status"]) == (False, 0)
    assert "timed out" in result["body"]


def test_nothing_listening_fails_with_status_0() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(f"http://127.0.0.1:{port}", {"path": "/version"}, retries=1)
    assert (result["passed"], result["status"], result["attempts"]) == (False, 0, 2)
    assert "refused" in result["body"].lower()


def test_retries_wait_the_delay_between_attempts(server) -> None:
    started = time.monotonic()
    result = probe_module.run_check(base(server), {"path": "/down"}, retries=2, delay=0.1, timeout=2)
    assert result["attempts"] == 3
    assert time.monotonic() - started >= 0.2  # two waits between three attempts
