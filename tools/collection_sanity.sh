#!/usr/bin/env bash
# Build the collection steady.deploy as Galaxy would ship it, install the tarball, and run `ansible-test sanity`
# on the installed copy: sanity then checks exactly what users get (build_ignore applied), not the work tree with
# its lab, tests and caches. Run from anywhere; uses the ansible-galaxy/ansible-test found first on PATH (the
# Makefile puts .venv/bin first). Exits non-zero on any sanity failure.
set -euo pipefail

cd "$(dirname "$0")/.."

# Temp dirs under /tmp, outside any git work tree: there ansible-test falls back to its "unversioned" source
# provider, which tests every file on disk, i.e. exactly the tarball's content. (Inside a git work tree it would
# ask git instead, and skip the untracked install.) No `git init` needed.
build_dir=$(mktemp -d /tmp/steady-build.XXXXXX)
install_dir=$(mktemp -d /tmp/steady-install.XXXXXX)
trap 'rm -rf "$build_dir" "$install_dir"' EXIT

ansible-galaxy collection build --output-path "$build_dir" >/dev/null
tarball=$(echo "$build_dir"/steady-deploy-*.tar.gz)
echo "tarball: $(basename "$tarball") ($(tar -tzf "$tarball" | grep -vc '/$') files)"

# --no-deps: Galaxy is unreachable here, and sanity needs none of the collection's dependencies. --force: the
# repo's ansible.cfg collections path has this clone linked as steady.deploy (make venv), so without it the
# install says "already installed" and writes nothing.
ansible-galaxy collection install --no-deps --force -p "$install_dir" "$tarball" >/dev/null
collection="$install_dir/ansible_collections/steady/deploy"
if git -C "$collection" rev-parse --git-dir >/dev/null 2>&1; then
    echo "error: $collection is inside a git work tree; ansible-test would skip its untracked files" >&2
    exit 1
fi

# Each sanity test runs in a venv that ansible-test makes and caches under ~/.ansible/test/venv (per test and
# requirements hash: installed from PyPI on the first run, reused after; with --venv or --local alike). It puts
# pip into those empty venvs with a get-pip script from ci-files.testing.ansible.com, which this network cannot
# reach, and it looks for that script in ~/.ansible/test/cache first. So we put an equivalent there once: pip's
# wheel (from PyPI) running `pip install` as get-pip does, for the pip version ansible-test pins.
python=$(sed -n '1s/^#!//p' "$(command -v ansible-test)")  # the interpreter that has ansible_test
cache=~/.ansible/test/cache
pip_version=$("$python" -c 'import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3.11"))["pip"])')
get_pip="$cache/get_pip_${pip_version//./_}.py"
if [[ ! -f $get_pip ]]; then
    mkdir -p "$cache"
    "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$cache" "pip==$pip_version"
    cat >"$get_pip.tmp" <<EOF
# Stand-in for get-pip $pip_version, written by steady.deploy's tools/collection_sanity.sh: run pip from its wheel
# beside this file. The arguments are pip install's, plus get-pip's own --no-setuptools/--no-wheel (dropped:
# nothing else is asked for). --force-reinstall, as get-pip: the unpacked pip on sys.path looks installed.
import os, shutil, sys, tempfile, zipfile
unpacked = tempfile.mkdtemp(prefix="get-pip-")
try:
    zipfile.ZipFile(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pip-$pip_version-py3-none-any.whl")).extractall(unpacked)
    sys.path.insert(0, unpacked)
    from pip._internal.cli.main import main
    code = main(["install", "--quiet", "--upgrade", "--force-reinstall"]
                + [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")])
finally:
    shutil.rmtree(unpacked, ignore_errors=True)
sys.exit(code)
EOF
    mv "$get_pip.tmp" "$get_pip"
fi

# --venv: ansible-test runs itself in a clean venv (there is no Docker for it), so the result does not depend on
# what else the project's venv holds; it costs ~10 s a run (that venv lives in the fresh install dir). --local
# works too; --local --requirements would pip-install ansible-test's pins into the project's venv. Python 3.11
# only: the controller's. ANSIBLE_CONFIG (the Makefile sets it) would bring in the repo's ansible.cfg.
cd "$collection"
unset ANSIBLE_CONFIG
if ansible-test sanity --venv --python 3.11 --color no; then
    echo "ansible-test sanity: all tests passed"
else
    rc=$?
    echo "ansible-test sanity: FAILED (exit $rc)"
    exit "$rc"
fi
