#!/usr/bin/env bash
# The whole test suite in one command (CI runs it through .ci/run):
#
#   bash scripts/test.sh            # bootstrap, pytest (unit + integration), the server-version
#                                   # matrix (tests/versions), the SSH fleet (tests/fleet),
#                                   # ansible-test units/integration, the ansible-core range
#                                   # (sanity + module tests on the lowest and newest), release
#                                   # checks, roles
#   SKIP_SANITY=1 bash scripts/test.sh     # without ansible-test sanity
#   SKIP_PYTEST=1 bash scripts/test.sh     # without pytest, the version matrix and the fleet
#   SKIP_MOLECULE=1 bash scripts/test.sh   # without the roles' ansible-lint + molecule scenarios
#   SKIP_VERSIONS=1 bash scripts/test.sh   # without the server-version matrix (tests/versions)
#   SKIP_RELEASE=1 bash scripts/test.sh    # without the release checks (scripts/release_checks.sh)
#   SKIP_CORE_RANGE=1 bash scripts/test.sh # without the lowest/newest ansible-core runs (sanity then
#                                          # runs once, on the venv's ansible-core)
#   SKIP_INTEGRATION=1 bash scripts/test.sh # without ansible-test units and integration (module targets)
#   SKIP_FLEET=1 bash scripts/test.sh      # without the SSH fleet (tests/fleet)
#   bash scripts/test.sh -k roundtrip      # extra arguments go to pytest
#
# Exits non-zero if any step fails; pytest collecting no test (exit 5) is a failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DBBACKUP_VENV:-$HOME/.cache/dbbackup/venv}"
export DBBACKUP_VENV="$VENV"
# Step limits only stop a hung step (a hung test fails alone after pytest-timeout's 600 s,
# pytest.ini): they are far above what the steps take on 2 busy cores.
CORE_TIMEOUT="${CORE_TIMEOUT:-40m}"
SANITY_TIMEOUT="${SANITY_TIMEOUT:-20m}"
failed=()
T0=$(date +%s)

# Everything a step creates lives in a run directory of its own (TMPDIR for the throwaway
# servers and pytest's tmp_path; the chroot-shared directory of the version matrix): on any
# exit, devtools/sweep.py stops what is still running there and removes it.
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/dbbackup-run.XXXXXX")"
chmod 1777 "$RUN_DIR"
SHARED_DIR="/var/tmp/dbbackup-shared-$(basename "$RUN_DIR")"
export TMPDIR="$RUN_DIR" DBBACKUP_CHROOT_SHARED="$SHARED_DIR"
cleanup() {
    if [ -x "${PY:-}" ]; then
        (cd "$ROOT" && "$PY" -m devtools.sweep "$RUN_DIR" "$SHARED_DIR")
    else
        rm -rf "$RUN_DIR"
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

now() { date +%s; }
step_done() {  # name start rc
    local secs=$(( $(now) - $2 ))
    if [ "$3" = 0 ]; then
        echo "== $1: OK (${secs}s)"
    else
        echo "== $1: FAILED (exit $3, ${secs}s)"
        failed+=("$1")
    fi
}

# --- bootstrap --------------------------------------------------------------------
t=$(now)
bash "$ROOT/scripts/bootstrap.sh"
rc=$?
step_done bootstrap "$t" "$rc"
if [ "$rc" != 0 ]; then
    echo "bootstrap failed; nothing else was run." >&2
    exit 1
fi
PY="$VENV/bin/python"

# --- pytest -------------------------------------------------------------------------
if [ -n "${SKIP_PYTEST:-}" ]; then
    echo "== pytest: skipped (SKIP_PYTEST set)"
else
    t=$(now)
    echo "== pytest tests/unit tests/integration"
    (cd "$ROOT" && timeout --kill-after=30s "$CORE_TIMEOUT" \
        "$PY" -m pytest -p no:cacheprovider -ra --durations=10 tests/unit tests/integration "$@")
    rc=$?
    case "$rc" in
        5) echo "pytest collected no tests: that is a failure, not a pass." >&2 ;;
        124|137) echo "pytest did not finish within $CORE_TIMEOUT." >&2 ;;
    esac
    step_done pytest "$t" "$rc"
fi

# --- the server-version matrix (tests/versions) -------------------------------------------
# PostgreSQL 13/15/17 and MariaDB 10.5/10.11/11.8: this machine's servers plus Debian chroots of
# bullseye and trixie (devtools/debian_chroot.py), built once (about 2 minutes each) and cached in
# ${DBBACKUP_CHROOTS:-~/.cache/dbbackup/chroots}. Needs root (debootstrap, mount, chroot).
VERSIONS_TIMEOUT="${VERSIONS_TIMEOUT:-25m}"
if [ -n "${SKIP_VERSIONS:-}" ] || [ -n "${SKIP_PYTEST:-}" ]; then
    echo "== server-version matrix: skipped (SKIP_VERSIONS or SKIP_PYTEST set)"
else
    t=$(now)
    if [ "$(id -u)" != 0 ]; then
        echo "the server-version matrix builds and enters Debian chroots: run as root (CI does), or set SKIP_VERSIONS=1." >&2
        rc=1
    else
        echo "== server-version matrix: chroots (bullseye: PostgreSQL 13, MariaDB 10.5; trixie: PostgreSQL 17, MariaDB 11.8)"
        (cd "$ROOT" && timeout --kill-after=30s "$VERSIONS_TIMEOUT" "$PY" -m devtools.debian_chroot ensure bullseye trixie)
        rc=$?
        if [ "$rc" = 0 ]; then
            echo "== pytest tests/versions"
            (cd "$ROOT" && timeout --kill-after=30s "$VERSIONS_TIMEOUT" \
                "$PY" -m pytest -p no:cacheprovider -ra --durations=5 tests/versions)
            rc=$?
        fi
        case "$rc" in
            5) echo "pytest collected no version tests: that is a failure, not a pass." >&2 ;;
            124|137) echo "the server-version matrix did not finish within $VERSIONS_TIMEOUT." >&2 ;;
        esac
    fi
    step_done "server-version matrix" "$t" "$rc"
fi

# --- the SSH fleet (tests/fleet) ------------------------------------------------------------
# Four Debian managed nodes (bullseye, bookworm x2, trixie), each its own tree with its own sshd
# on 127.0.0.11-14, driven by ansible-playbook over SSH (docs/fleet.md). The trees (with the agent
# role's venvs inside) are cached in ${DBBACKUP_CHROOTS:-~/.cache/dbbackup/chroots} and rebuilt when
# missing: about 5 minutes cold (trees in parallel, then packages and venvs from the index), 2 warm
# (docs/testing.md, measured times). One time
# limit for the whole step. Needs root (debootstrap, mount, chroot).
FLEET_TIMEOUT="${FLEET_TIMEOUT:-30m}"
if [ -n "${SKIP_FLEET:-}" ] || [ -n "${SKIP_PYTEST:-}" ]; then
    echo "== SSH fleet: skipped (SKIP_FLEET or SKIP_PYTEST set)"
else
    t=$(now)
    if [ "$(id -u)" != 0 ]; then
        echo "the SSH fleet builds and enters Debian chroots: run as root (CI does), or set SKIP_FLEET=1." >&2
        rc=1
    else
        echo "== SSH fleet: host trees, then pytest tests/fleet"
        # shellcheck disable=SC2016  # $1 expands in the inner bash: one time limit for both commands
        (cd "$ROOT" && timeout --kill-after=30s "$FLEET_TIMEOUT" bash -c \
            '"$1" -m devtools.fleet_hosts ensure && "$1" -m pytest -p no:cacheprovider -ra --durations=10 tests/fleet' \
            fleet "$PY")
        rc=$?
        case "$rc" in
            5) echo "pytest collected no fleet tests: that is a failure, not a pass." >&2 ;;
            124|137) echo "the SSH fleet did not finish within $FLEET_TIMEOUT." >&2 ;;
        esac
    fi
    step_done "SSH fleet" "$t" "$rc"
fi

# --- ansible-test sanity --------------------------------------------------------------
# ansible-test must run from inside ansible_collections/<namespace>/<name>/. A symlink
# does not do (it resolves the working directory), so when the checkout is not already
# laid out that way we test a copy of the files git knows about (tracked, plus new
# files that are not ignored) in a stable cache directory, so ansible-test's own
# virtualenvs are reused between runs.
run_sanity() {
    local coll
    coll="$(bash "$ROOT/scripts/collection_tree.sh" "${DBBACKUP_SANITY_TREE:-$HOME/.cache/dbbackup/sanity}")" || return 1
    echo "== ansible-test sanity ($coll)"
    # shellcheck disable=SC1091
    (cd "$coll" && source "$VENV/bin/activate" && \
        timeout --kill-after=30s "$SANITY_TIMEOUT" \
        ansible-test sanity --venv --python 3.11 --color no)
}
# The ansible-core range step below runs sanity on the lowest and the newest ansible-core; this
# step runs it on the venv's own ansible-core only when that step is skipped (a quicker local loop),
# which keeps the core suite within its time on 2 cores.
if [ -n "${SKIP_SANITY:-}" ]; then
    echo "== ansible-test sanity: skipped (SKIP_SANITY set)"
elif [ -z "${SKIP_CORE_RANGE:-}" ]; then
    echo "== ansible-test sanity: in the ansible-core range step (lowest and newest ansible-core)"
else
    t=$(now)
    run_sanity
    rc=$?
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "ansible-test sanity did not finish within $SANITY_TIMEOUT." >&2
    step_done "ansible-test sanity" "$t" "$rc"
fi

# --- the steps that are one script each ---------------------------------------------------
# script_step NAME SKIP_VARIABLE TIMEOUT [root] -- COMMAND...: run COMMAND under TIMEOUT unless
# SKIP_VARIABLE is set (or, with root, unless this is root), and record the outcome.
script_step() {
    local name="$1" skip="$2" limit="$3" needs_root=0 t rc
    shift 3
    [ "$1" = root ] && { needs_root=1; shift; }
    [ "$1" = -- ] && shift
    if [ -n "${!skip:-}" ]; then
        echo "== $name: skipped ($skip set)"
        return 0
    fi
    t=$(now)
    echo "== $name ($*)"
    if [ "$needs_root" = 1 ] && [ "$(id -u)" != 0 ]; then
        echo "$name changes this machine (packages, users, units): run as root (CI does), or set $skip=1." >&2
        rc=1
    else
        timeout --kill-after=30s "$limit" "$@"
        rc=$?
        [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "$name did not finish within $limit." >&2
    fi
    step_done "$name" "$t" "$rc"
}

# ansible-test units (tests/unit) and integration (the module targets in tests/integration/targets)
script_step "ansible-test units and integration" SKIP_INTEGRATION "${INTEGRATION_TIMEOUT:-20m}" \
    -- bash "$ROOT/scripts/integration.sh"
# the supported ansible-core range: sanity + module tests on the lowest and the newest
script_step "ansible-core range" SKIP_CORE_RANGE "${CORE_RANGE_TIMEOUT:-35m}" \
    -- bash "$ROOT/scripts/ansible_core_range.sh"
# release checks: changelog, ansible-lint, galaxy-importer (Automation Hub), ansible-builder
script_step "release checks" SKIP_RELEASE "${RELEASE_TIMEOUT:-15m}" -- bash "$ROOT/scripts/release_checks.sh"
# roles: ansible-lint and the molecule scenarios (they converge the roles on this machine)
script_step "roles (ansible-lint, molecule)" SKIP_MOLECULE "${MOLECULE_TIMEOUT:-25m}" root \
    -- bash "$ROOT/scripts/molecule.sh"

total=$(( $(now) - T0 ))
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]} (${total}s in all)"
    exit 1
fi
echo "ALL OK (${total}s in all)"
