"""Images built elsewhere: a release already in the registry deploys with no build context at all, production
deploys exactly a digest and never builds, and a release that is not there is refused without building it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import docker
import httpx
import pytest

from support.lab import ROOT, Lab, ansible_playbook, ssh
from support.deploy import APP, deploy, ledger, lock_exists, recap, said, served_version

pytestmark = pytest.mark.lab

NO_CONTEXT = '{"app_build_context": ""}'


def build_elsewhere(lab: Lab, version: str) -> str:
    """Build and push a release the way a service's own CI would, outside the deploy; return its digest."""
    client = docker.from_env(timeout=600)
    tag = f"{lab.app_repository}:{version}"
    client.images.build(path=str(ROOT / "examples" / "service"), tag=tag, rm=True,
                        buildargs={"APP_VERSION": version, "BASE_IMAGE": "steady-lab/debian:bookworm"})
    for line in client.images.push(lab.app_repository, tag=version, stream=True, decode=True):
        assert "error" not in line, line
    answer = httpx.get(f"http://{lab.registry}/v2/steady/app/manifests/{version}", timeout=10,
                       headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert answer.status_code == 200, answer.text
    return answer.headers["Docker-Content-Digest"]


def in_registry(lab: Lab, version: str) -> bool:
    return httpx.head(f"http://{lab.registry}/v2/steady/app/manifests/{version}", timeout=10,
                      headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}).status_code == 200


def test_a_release_in_the_registry_deploys_without_a_build_context(lab: Lab) -> None:
    build_elsewhere(lab, "1.2.0")
    result = deploy("1.2.0", "-e", NO_CONTEXT)
    text = said(result)
    assert result.returncode == 0, text[-3000:]
    assert f"{lab.app_repository}:1.2.0@sha256:" in text and "(already in the registry)" in text
    assert "Build the image from its Dockerfile" not in text
    assert {served_version(lab, h) for h in lab.hosts} == {"1.2.0"}


def test_production_style_deploys_exactly_a_digest_and_never_builds(lab: Lab) -> None:
    digest = build_elsewhere(lab, "1.2.1")
    result = deploy("1.2.1", "-e", "deploy_build=never", "-e", f"app_image_digest={digest}", "-e", NO_CONTEXT)
    text = said(result)
    assert result.returncode == 0, text[-3000:]
    assert f"{lab.app_repository}@{digest} (already in the registry)" in text
    assert "Build the image from its Dockerfile" not in text
    for host in lab.hosts:
        assert served_version(lab, host) == "1.2.1"
        # Every host pulled the image by its digest (it has no tag for it) and runs it; its ledger records it.
        live = [e for e in ledger(lab, host) if e["status"] == "live"]
        assert [(e["version"], e["digest"]) for e in live] == [("1.2.1", digest)]
        running = ssh(lab, host, "docker", "inspect", "--format", "{{.Image}}", live[0]["container"]).stdout.strip()
        pulled = ssh(lab, host, "docker", "image", "inspect", "--format", "{{.Id}} {{json .RepoTags}}",
                     f"{lab.app_repository}@{digest}").stdout.split(" ", 1)
        assert running == pulled[0] == live[0]["image_id"]
        assert f"{lab.app_repository}:1.2.1" not in pulled[1]
    assert not lock_exists(lab)


def test_a_release_missing_from_the_registry_is_refused_and_not_built(lab: Lab) -> None:
    assert not in_registry(lab, "1.2.9")
    result = deploy("1.2.9", "-e", "deploy_build=never")
    text = said(result)
    assert result.returncode != 0
    assert f"{lab.app_repository}:1.2.9 is not in the registry" in text
    assert "this run does not build it (image_build_policy is never)" in text
    assert "Build the image from its Dockerfile" not in text
    assert not in_registry(lab, "1.2.9")
    assert not docker.from_env().images.list(name=f"{lab.app_repository}:1.2.9")
    # What served before still serves, and the lock is free for the next deploy.
    assert {served_version(lab, h) for h in lab.hosts} == {"1.2.1"}
    assert not lock_exists(lab)


def test_a_digest_that_is_not_the_tags_is_refused_before_the_lock(lab: Lab) -> None:
    """A digest pasted from another release: the tag names another image in the registry, or no image at all. The
    run is refused in its first play, before the lock and any notification, and nothing changes."""
    serving = ledger(lab, lab.hosts[0])[-1]
    assert serving["version"] == "1.2.1" and serving["status"] == "live"
    other = build_elsewhere(lab, "1.2.0")
    assert other != serving["digest"]
    assert not in_registry(lab, "1.2.8")
    for version, names in (("1.2.0", other), ("1.2.8", "the registry has no such tag")):
        result = deploy(version, "-e", f"app_image_digest={serving['digest']}", "-e", NO_CONTEXT)
        text = said(result)
        assert result.returncode != 0
        assert (f"app_image_digest: {serving['digest']} is not what {lab.app_repository}:{version} names in the "
                f"registry ({names})") in text, text[-3000:]
        assert "PLAY [1. Preflight: take the deploy lock]" not in text and "Nothing to do" not in text
        # Refused on the controller, in the run's first play: no host was contacted.
        assert list(recap(result)) == ["localhost"] and recap(result)["localhost"]["failed"] == 1, text[-1500:]
    assert not lock_exists(lab)
    assert {served_version(lab, h) for h in lab.hosts} == {"1.2.1"}
    assert [e["release_id"] for e in ledger(lab, lab.hosts[0])][-1] == serving["release_id"]


def test_verify_without_a_version_endpoint_asks_the_engine_which_image_serves(lab: Lab, tmp_path: Path) -> None:
    """No version endpoint: verify.yml reads the live container's image from the engine and compares it with the
    image the ledger recorded (docs/SERVICE_CONTRACT.md)."""
    no_version = ["-e", '{"app_version_path": ""}', "-e", "slo_gate_window=30s"]
    passed = ansible_playbook("playbooks/verify.yml", *no_version, "-e", f"verify_report_path={tmp_path / 'a.json'}",
                              timeout=300)
    assert passed.returncode == 0, said(passed)[-3000:]
    assert re.search(r"TASK \[Refuse a live container that is gone, stopped, or runs another image\] \**\s*ok: \[",
                     passed.stdout)
    host = lab.hosts[0]
    path = f"/var/lib/steady/{APP}/ledger.json"
    original = ssh(lab, host, "cat", path).stdout
    tampered = json.loads(original)
    for entry in tampered["releases"]:
        if entry["status"] == "live":
            entry["image_id"] = "sha256:" + "0" * 64
    try:
        ssh(lab, host, "sh", "-c", f"cat > {path}.t && mv {path}.t {path}", input=json.dumps(tampered))
        failed = ansible_playbook("playbooks/verify.yml", *no_version, "-e",
                                  f"verify_report_path={tmp_path / 'b.json'}", timeout=300)
        assert failed.returncode != 0
        assert f"{host.name}: the ledger's live container" in said(failed)
        assert "not sha256:" + "0" * 64 in said(failed)
    finally:
        ssh(lab, host, "sh", "-c", f"cat > {path}.t && mv {path}.t {path}", input=original)
