#!/usr/bin/env bash
# What Galaxy, Automation Hub and AWX users check before they trust a collection (a step of
# scripts/test.sh; alone: bash scripts/release_checks.sh):
#
#  1. antsibull-changelog lint (fragments and changelogs/changelog.yaml) and CHANGELOG.rst
#     generated from it; ansible-lint --profile production in a fresh tree;
#  2. the collection artifact (ansible-galaxy collection build, with galaxy.yml's build_ignore)
#     imported by galaxy-importer with Automation Hub's settings: version 1.0.0 or greater,
#     required tags, a changelog, ansible-doc and ansible-lint on every plugin; any error or
#     warning fails;
#  3. ansible-builder introspect of the installed artifact (meta/execution-environment.yml) and
#     ansible-builder create of an execution environment that installs it (no container engine
#     is needed to write the build context).
#
# Tools come from requirements-release.txt in their own virtualenv
# (${DBBACKUP_RELEASE_VENV:-~/.cache/dbbackup/venv-release}).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DBBACKUP_RELEASE_VENV:-$HOME/.cache/dbbackup/venv-release}"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbbackup-release.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

step() { echo "-- $*"; }
fail() { echo "release checks: $*" >&2; exit 1; }

want="$(sha256sum "$ROOT/requirements-release.txt" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$want" ]; then
    step "virtualenv $VENV (requirements-release.txt)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements-release.txt" \
        || fail "pip install -r requirements-release.txt failed (is PyPI reachable?)"
    echo "$want" >"$VENV/.stamp"
fi
export PATH="$VENV/bin:$PATH"

# The files git knows about, laid out as ansible_collections/<ns>/<name>
SRC="$(bash "$ROOT/scripts/collection_tree.sh" "$WORK/src")"
version=$(sed -n 's/^version: *//p' "$ROOT/galaxy.yml" | tr -d '"'"'"' ')
ns=$(basename "$(dirname "$SRC")")
name=$(basename "$SRC")

step "antsibull-changelog lint"
(cd "$SRC" && antsibull-changelog lint) || fail "antsibull-changelog lint found problems (above)."
[ -f "$SRC/CHANGELOG.rst" ] || fail "CHANGELOG.rst is missing: run antsibull-changelog release (docs/releasing.md)."
(cd "$SRC" && antsibull-changelog generate && cmp -s CHANGELOG.rst "$ROOT/CHANGELOG.rst") \
    || fail "CHANGELOG.rst is not what antsibull-changelog generates from changelogs/: run antsibull-changelog generate."

step "ansible-lint --profile production (a fresh tree, as a user runs it)"
(cd "$SRC" && ansible-lint --profile production --nocolor >"$WORK/lint.log" 2>&1) \
    || { cat "$WORK/lint.log"; fail "ansible-lint --profile production failed in a fresh tree."; }
tail -n 2 "$WORK/lint.log"

step "ansible-galaxy collection build"
(cd "$SRC" && ansible-galaxy collection build --output-path "$WORK/dist" >/dev/null)
ARTIFACT="$WORK/dist/$ns-$name-$version.tar.gz"
[ -f "$ARTIFACT" ] || fail "no artifact $ARTIFACT"
leaked=$(tar -tzf "$ARTIFACT" | grep -E '^(bench|devtools|\.ci|tests/output)/|/__pycache__/|\.pyc$' || true)
[ -z "$leaked" ] || fail "the artifact holds development files build_ignore should leave out: $leaked"

step "galaxy-importer (Automation Hub settings)"
cat >"$WORK/galaxy-importer.cfg" <<'EOF'
[galaxy-importer]
require_v1_or_greater = True
check_required_tags = True
check_changelog = True
run_ansible_doc = True
run_ansible_lint = True
offline_ansible_lint = True
run_ansible_test = False
run_flake8 = False
EOF
export GALAXY_IMPORTER_CONFIG="$WORK/galaxy-importer.cfg"
(cd "$WORK" && python -m galaxy_importer.main "$ARTIFACT" >"$WORK/import.log" 2>&1) \
    || { cat "$WORK/import.log"; fail "galaxy-importer failed."; }
problems=$(grep -E "^(ERROR|WARNING)" "$WORK/import.log" || true)
if [ -n "$problems" ]; then
    cat "$WORK/import.log"
    fail "galaxy-importer reported errors or warnings: $problems"
fi
echo "galaxy-importer: imported $ns.$name $version without errors or warnings"

step "ansible-builder introspect and create"
mkdir -p "$WORK/collections"
# isolated from collections installed elsewhere (~/.ansible/collections would make it "already installed")
ANSIBLE_COLLECTIONS_PATH="$WORK/collections" ansible-galaxy collection install --force -p "$WORK/collections" "$ARTIFACT" >/dev/null
(cd "$WORK" && ansible-builder introspect --sanitize "$WORK/collections" >"$WORK/introspect.txt")
grep -vE '^[[:space:]]*(#|$)' "$ROOT/meta/ee-requirements.txt" | sed 's/[<>=;].*//' | while read -r dep; do
    grep -qi "$dep" "$WORK/introspect.txt" \
        || { cat "$WORK/introspect.txt"; fail "ansible-builder introspect does not list $dep"; }
done
grep -q 'mariadb-client' "$WORK/introspect.txt" || { cat "$WORK/introspect.txt"; fail "introspect lists no system deps"; }
mkdir -p "$WORK/ee"
cp "$ARTIFACT" "$WORK/ee/"
cat >"$WORK/ee/execution-environment.yml" <<EOF
---
version: 3
images:
  base_image:
    name: quay.io/ansible/awx-ee:latest
dependencies:
  ansible_core:
    package_pip: ansible-core>=2.16.0
  ansible_runner:
    package_pip: ansible-runner
  galaxy:
    collections:
      - name: $(basename "$ARTIFACT")
        type: file
additional_build_files:
  - src: $(basename "$ARTIFACT")
    dest: collections
EOF
(cd "$WORK/ee" && ansible-builder create -f execution-environment.yml -c context --output-filename Containerfile >/dev/null) \
    || fail "ansible-builder create failed."
[ -f "$WORK/ee/context/Containerfile" ] || fail "ansible-builder create wrote no Containerfile."
grep -q "$(basename "$ARTIFACT")" "$WORK/ee/context/Containerfile" "$WORK/ee/context/_build/"* 2>/dev/null \
    || grep -rq "$(basename "$ARTIFACT")" "$WORK/ee/context" \
    || fail "the execution environment context does not install the collection artifact."
echo "ansible-builder: execution environment context written (Containerfile, requirements from the collection)"
echo "release checks: OK"
