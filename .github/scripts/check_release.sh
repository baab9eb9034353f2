#!/usr/bin/env bash
# Checks a release before a workflow uses it: check_release.sh VERSION [DIGEST]
# VERSION is an image tag (what the deploy's preflight accepts: letters, digits, '.', '_', '-', at most 128, not
# starting with '.' or '-', never latest); DIGEST, when the caller expects one, is sha256:<64 lower-case hex>.
# Prints a GitHub error and exits 1 on anything else, before any playbook sees the value.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "::error::usage: check_release.sh VERSION [DIGEST]"
  exit 1
fi
version=$1
if [[ ! $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ || ${version,,} == latest ]]; then
  echo "::error::The version must be an image tag (letters, digits, '.', '_', '-', at most 128, not latest)."
  exit 1
fi
if [[ $# -eq 2 && ! $2 =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "::error::The digest must be sha256: and 64 lower-case hex digits (the build job's output)."
  exit 1
fi
