#!/usr/bin/env bash
# Run the molecule scenarios of the roles against this machine (as root: they install
# packages, users and units), after ansible-lint on roles and playbooks:
#
#   bash scripts/molecule.sh                 # lint + every scenario in molecule/
#   bash scripts/molecule.sh agent schedule  # only these scenarios
#   SKIP_LINT=1 bash scripts/molecule.sh metrics
#
# The collection is made importable as a copy in a temporary directory under
# ~/.cache/dbbackup; tools come from the venv that scripts/bootstrap.sh builds
# (molecule, ansible-lint, ansible-core). Runs on one machine are serialized.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DBBACKUP_VENV:-$HOME/.cache/dbbackup/venv}"
export PATH="$VENV/bin:$PATH"
export ANSIBLE_LOCALHOST_WARNING=false
export ANSIBLE_INVENTORY_UNPARSED_WARNING=false
export ANSIBLE_NOCOLOR=1
export PY_COLORS=0
export MOLECULE_NO_LOG=false

# The scenarios change this machine (units in /etc/systemd/system, /opt/dbbackup-molecule,
# users, /var/tmp/dbbackup-molecule-*): one run at a time, a second one waits.
LOCK="${DBBACKUP_MOLECULE_LOCK:-/var/tmp/dbbackup-molecule.lock}"
exec 9>>"$LOCK"
if ! flock -n 9; then
    echo "== waiting for another molecule run on this machine ($LOCK)"
    flock 9
fi

# Molecule and ansible-lint run on a snapshot of the files git knows about (tracked, plus
# new files that are not ignored), made for this run only, so edits made while the
# scenarios run (or stale __pycache__ directories) cannot make a converge and its
# idempotence run differ.
mkdir -p "$HOME/.cache/dbbackup"
COLLECTIONS="$(mktemp -d "$HOME/.cache/dbbackup/molecule-collections.XXXXXX")"
trap 'rm -rf "$COLLECTIONS"' EXIT
export DBBACKUP_COLLECTIONS_PATH="$COLLECTIONS"
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS"
coll="$COLLECTIONS/ansible_collections/dbbackup/dbbackup"
mkdir -p "$coll"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$coll" || exit 1
else
    (cd "$ROOT" && tar --exclude=./.git --exclude=./tests/output --exclude=__pycache__ -cf - .) \
        | tar -xf - -C "$coll" || exit 1
fi

failed=()
cd "$coll" || exit 1

# What the agent role creates for the scenarios (the backup user with its home, the engine and its
# virtualenv in /opt/dbbackup-molecule) is removed at the end unless it was there before the run, or
# DBBACKUP_MOLECULE_KEEP=1 keeps it to save the virtualenv build on the next run.
user_before=0; id -u dbbackup >/dev/null 2>&1 && user_before=1
install_before=0; [ -e /opt/dbbackup-molecule ] && install_before=1
remove_role_leftovers() {
    [ -n "${DBBACKUP_MOLECULE_KEEP:-}" ] && return 0
    if [ "$install_before" = 0 ] && [ -e /opt/dbbackup-molecule ]; then
        rm -rf /opt/dbbackup-molecule && echo "== removed /opt/dbbackup-molecule (the scenarios' engine and virtualenv)"
    fi
    if [ "$user_before" = 0 ] && id -u dbbackup >/dev/null 2>&1; then
        userdel -r dbbackup >/dev/null 2>&1 || userdel dbbackup >/dev/null 2>&1 || true
        getent group dbbackup >/dev/null 2>&1 && groupdel dbbackup >/dev/null 2>&1
        echo "== removed the user dbbackup the scenarios created (and its home)"
    fi
    return 0
}
trap 'remove_role_leftovers; rm -rf "$COLLECTIONS"' EXIT

if [ -z "${SKIP_LINT:-}" ]; then
    echo "== ansible-lint roles/ playbooks/ molecule/"
    if ! ansible-lint --offline --nocolor roles/ playbooks/ molecule/; then
        failed+=(ansible-lint)
    fi
fi

if [ "$#" -gt 0 ]; then
    scenarios=("$@")
else
    scenarios=(agent schedule metrics pg_lock_tuning)
fi
for s in "${scenarios[@]}"; do
    echo "== molecule test -s $s"
    t=$(date +%s)
    if molecule test -s "$s"; then
        echo "== molecule $s: OK ($(( $(date +%s) - t ))s)"
    else
        echo "== molecule $s: FAILED ($(( $(date +%s) - t ))s)"
        failed+=("molecule:$s")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "roles OK"
