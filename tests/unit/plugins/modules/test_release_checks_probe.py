"""release_checks_probe's run_check against a real HTTP server on 127.0.0.1: passes, failures, retries and the
JSON key check. No Docker, no Ansible run."""
from __future__ import annotations

import socket
import time

import ansible_collections.steady.deploy.plugins.modules.release_checks_probe as probe_module
from support.http_service import VERSION_BODY, base


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
