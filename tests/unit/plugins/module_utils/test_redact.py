"""Taking secrets out of text (module_utils/redact.py) and what the database clients get from a libpq URL
(module_utils/database_url.py). No Ansible run."""
from __future__ import annotations

import sys

import pytest

from support.lab import ROOT

sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))
from database_url import pgpass_line, url_database, url_with_database, url_without_password  # noqa: E402
from redact import redact  # noqa: E402


def test_known_secrets_go_in_every_form() -> None:
    assert redact("token abc123 and abc", ["abc", "abc123"]) == "token *** and ***"
    assert redact("key: line1 line2", ["line1\nline2\n"]) == "key: ***"
    assert redact("password p%40ss or p@ss", ["postgresql://app:p%40ss@db/app"]) == "password *** or ***"


def test_the_password_of_any_url_goes_even_when_nobody_named_it() -> None:
    log = "connect to postgresql://app:hunter2@db:5432/app failed; redis://:r3d1s@cache:6379/0 ok"
    assert redact(log) == "connect to postgresql://app:***@db:5432/app failed; redis://:***@cache:6379/0 ok"
    assert redact("see https://example.com/a:b@c and http://host:8080/x") == \
        "see https://example.com/a:b@c and http://host:8080/x", "a port or a path is no password"


def test_nothing_to_hide_is_left_alone() -> None:
    assert redact("plain text", ["", None]) == "plain text"
    assert redact(None, ["x"]) == ""


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://app:s3cret@db.lab:5432/app", "postgresql://app@db.lab:5432/app"),
    ("postgresql://app:p%40ss%3Aw@db/app?sslmode=require", "postgresql://app@db/app?sslmode=require"),
    ("postgresql://app@db/app", "postgresql://app@db/app"),
    ("postgres://u:p@[::1]:5432/d", "postgres://u@[::1]:5432/d"),
])
def test_the_clients_command_line_gets_no_password(url: str, expected: str) -> None:
    assert url_without_password(url) == expected


def test_the_password_file_line_is_decoded_and_escaped_for_libpq() -> None:
    assert pgpass_line("postgresql://app:p%40ss%3Aw%5Cx@db/app") == "*:*:*:*:p@ss\\:w\\\\x\n"
    assert pgpass_line("postgresql://app@db/app") == "*:*:*:*:\n"


def test_another_database_of_the_same_server() -> None:
    url = "postgresql://app:pw@db:5432/app?sslmode=require"
    assert url_with_database(url, "app_restore_check") == "postgresql://app:pw@db:5432/app_restore_check?sslmode=require"
    assert url_database(url) == "app"
    with pytest.raises(ValueError):
        url_with_database(url, "../etc")
