#!/usr/bin/env bash
# Checks a verification report (playbooks/verify.yml) against the release a job expects:
#   check_verified.sh REPORT VERSION DIGEST
# Passes only when the report passed and every host's live release is exactly that version and that digest, so a
# promotion moves on only with the image the environment verifiably runs. Appends a table of the hosts to the step
# summary ($GITHUB_STEP_SUMMARY, when set).
set -euo pipefail

report=$1 version=$2 digest=$3
if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
  jq -r '"### Verified \(.environment): \(if .passed then "passed" else "FAILED" end)\n",
         "| host | version | digest | release |", "| --- | --- | --- | --- |",
         (.hosts[] | "| \(.host) | \(.live_release.version) | \(.live_release.digest) | \(.live_release.release_id) |")' \
    "$report" >> "$GITHUB_STEP_SUMMARY"
fi
if ! jq -e --arg version "$version" --arg digest "$digest" \
     '.passed == true and (.hosts | length) > 0
      and all(.hosts[]; .live_release.version == $version and .live_release.digest == $digest)' \
     "$report" > /dev/null; then
  echo "::error::Not every host runs $version ($digest), or the verification failed: see $report."
  exit 1
fi
echo "Every host runs $version ($digest) and the verification passed."
