# The two commands of README.md, and their parts. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: up test check lint sanity pytest unit lint-beside sanity-beside acceptance down venv

## up: bring the local lab up and deploy the reference service's newest release on it (a no-op when it is live)
LAB_VERSION ?= $(shell cat examples/service/VERSION)
up: venv
	ansible-playbook lab/playbooks/lab_up.yml
	ansible-playbook playbooks/deploy.yml -e app_version=$(LAB_VERSION)

## test: the whole test suite: the lab up, then lint, the collection's sanity test and pytest side by side (lint and
## sanity need no lab: they take about two minutes beside pytest's first, at nice 10 like the tests' second queue,
## and each one's output is printed whole when it ends; pytest's as it goes)
test: up
	$(MAKE) --no-print-directory -j3 lint-beside sanity-beside pytest

lint-beside sanity-beside: %-beside: venv
	@log=$$(mktemp); nice -n 10 $(MAKE) --no-print-directory $* >$$log 2>&1; rc=$$?; cat $$log; rm -f $$log; exit $$rc

## check: the inner loop, no lab and no engine needed (about 3 minutes): lint, sanity and every test that needs no
## lab, side by side. Then run the lab tests of the part you touched: pytest -m <area> (pytest.ini lists them).
check: venv
	$(MAKE) --no-print-directory -j3 --output-sync=target lint sanity unit

lint: venv
	yamllint --strict .
	ansible-lint
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	check-jsonschema --builtin-schema vendor.github-actions .github/actions/*/action.yml
	@# Offline, and with the venv's pinned shellcheck, so every machine gives the same answer.
	jactionlint --no-online --shellcheck=$(VENV)/bin/shellcheck --pyflakes=

## sanity: build the collection's tarball, install it and run `ansible-test sanity` on what was installed
sanity: venv
	bash tools/collection_sanity.sh

pytest: venv
	pytest -n 2

## unit: every test that needs no lab: the plugins' Python, the repository's own checks, init, the workflows
unit: venv
	pytest -n 2 -m "not lab"

## acceptance: a real third-party service (Prefect server) from init to rollback on bare lab servers (~20 min)
acceptance: venv
	pytest -m acceptance tests/e2e/test_third_party_app.py

## down: remove the lab (containers, networks, volumes, state) and stop the engine it started
down: venv
	ansible-playbook lab/playbooks/lab_down.yml

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements.yml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/ansible-galaxy collection install -r requirements.yml
	@# This clone is the collection steady.deploy: link it where Ansible looks for collections (ansible.cfg).
	mkdir -p $(VENV)/collections/ansible_collections/steady
	ln -sfn $(CURDIR) $(VENV)/collections/ansible_collections/steady/deploy
	touch $@
