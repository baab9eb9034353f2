"""rolling_restart_state's reads against real counterparts: the proxy's files in a folder, an engine API on a unix
socket and a docker CLI on the PATH. No Docker, no Ansible run."""
from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

import pytest

import ansible_collections.steady.deploy.plugins.modules.rolling_restart_state as state
from support.engine_api import cli
from support.fake_docker import UPSTREAM_OLD

LISTED = [{"Id": "c1", "Names": ["/app-20240101-1.0.0"], "Labels": {"io.steady.app": "app"}, "Image": "r/app:1.0.0",
           "ImageID": "sha256:aaa", "State": "running", "Created": 1704067200, "Status": "Up 2 hours", "Ports": []}]
FILTER = quote(json.dumps({"label": ["io.steady.app=app"]}))


def test_the_live_container_is_the_one_the_upstream_names() -> None:
    assert state.live_name(UPSTREAM_OLD) == "steady-app-20240101"
    assert state.live_name("") == ""
    assert state.live_name("upstream app {\n}\n") == ""


def test_the_proxy_files_are_read_and_a_missing_one_is_empty(tmp_path) -> None:
    (tmp_path / "nginx.conf").write_text("events {}\n")
    assert state.sha1_of(str(tmp_path / "nginx.conf")) == hashlib.sha1(b"events {}\n").hexdigest()  # noqa: S324
    assert state.sha1_of(str(tmp_path / "missing.conf")) == ""
    assert state.read_text(str(tmp_path / "missing.conf")) == ""


def test_the_engine_lists_the_services_containers_with_the_fields_the_role_reads(engine_api) -> None:
    engine_api.answers[f"/containers/json?all=1&filters={FILTER}"] = (200, LISTED)
    assert state.list_containers("app") == [{"Names": ["/app-20240101-1.0.0"], "Labels": {"io.steady.app": "app"},
                                             "Image": "r/app:1.0.0", "ImageID": "sha256:aaa", "State": "running",
                                             "Created": 1704067200}]


def test_an_engine_that_cannot_list_fails_with_its_answer(engine_api) -> None:
    with pytest.raises(state.SwitchError, match="could not list the containers: 404"):
        state.list_containers("app")


def test_an_image_is_looked_up_by_its_reference_and_a_missing_one_is_empty(engine_api) -> None:
    digest = "127.0.0.1:5000/steady/app@sha256:" + "a" * 64
    engine_api.answers[f"/images/{digest}/json"] = (200, {"Id": "sha256:bbb", "RepoDigests": [digest]})
    assert state.image_id(digest) == "sha256:bbb"
    assert state.image_id("127.0.0.1:5000/steady/app:9.9.9") == ""
    assert engine_api.asked == [f"/images/{digest}/json", "/images/127.0.0.1:5000/steady/app:9.9.9/json"]
    assert state.image_id("") == "" and len(engine_api.asked) == 2, "no image asked for, no call"


INSPECTED = [{"Name": "/app-20240101-1.0.0", "Created": "2024-01-01T00:00:00.123456789Z", "Image": "sha256:aaa",
              "Config": {"Image": "r/app:1.0.0", "Labels": {"io.steady.app": "app"}},
              "State": {"Status": "exited", "Running": False}}]


def test_an_engine_elsewhere_is_listed_through_the_cli_in_the_same_shape(tmp_path, monkeypatch) -> None:
    script = f"""case "$1" in
  ps) echo c1 ;;
  container) printf '%s\n' '{json.dumps(INSPECTED)}' ;;
  image) echo sha256:bbb ;;
esac"""
    monkeypatch.setenv("PATH", cli(tmp_path / "bin", script))
    assert state.list_containers("app") == [{"Names": ["/app-20240101-1.0.0"], "Labels": {"io.steady.app": "app"},
                                             "Image": "r/app:1.0.0", "ImageID": "sha256:aaa", "State": "exited",
                                             "Created": 1704067200}]
    assert state.image_id("r/app:1.0.0") == "sha256:bbb"


def test_no_container_through_the_cli_is_an_empty_list(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", cli(tmp_path / "bin", 'test "$1" = ps || exit 9'))
    assert state.list_containers("app") == []


def test_an_engine_error_on_the_image_lookup_fails_instead_of_saying_absent(engine_api) -> None:
    engine_api.answers["/images/r/app:1.0.0/json"] = (500, {"message": "layer store broken"})
    # An engine error must not read as a missing image.
    with pytest.raises(state.SwitchError, match="could not look up the image r/app:1.0.0: 500"):
        state.image_id("r/app:1.0.0")


def test_a_container_gone_between_the_listing_and_the_inspect_is_left_out(tmp_path, monkeypatch) -> None:
    script = f"""case "$1" in
  ps) echo c1 c2 ;;
  container) printf '%s\\n' '{json.dumps(INSPECTED)}'; echo "Error: No such container: c2" >&2; exit 1 ;;
esac"""
    monkeypatch.setenv("PATH", cli(tmp_path / "bin", script))
    assert [c["Names"] for c in state.list_containers("app")] == [["/app-20240101-1.0.0"]]
