#!/usr/bin/env bash
# The DR drill in one command, on a fresh machine:
#
#   bash scripts/drill.sh                  # throwaway PostgreSQL, sample database
#   bash scripts/drill.sh --scale 10       # bigger sample (1M accounts)
#   PGPASSWORD=... bash scripts/drill.sh --login-host db1 --database orders
#
# 1. scripts/bootstrap.sh: PostgreSQL 15 binaries when missing, and a virtualenv at
#    ${DBBACKUP_VENV:-$HOME/.cache/dbbackup/venv} with the requirements (ansible-core included).
# 2. devtools/drill.py with that venv's python: back up with dbbackup.dbbackup.dbbackup_backup,
#    restore with dbbackup.dbbackup.dbbackup_restore (playbooks/drill.yml via ansible-playbook),
#    prove the copy identical, print RTO / sizes / verdict. Exit status 0 only when IDENTICAL.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DBBACKUP_VENV:-$HOME/.cache/dbbackup/venv}"

bash "$ROOT/scripts/bootstrap.sh"
[ -x "$VENV/bin/python" ] || { echo "drill: $VENV/bin/python missing after bootstrap" >&2; exit 1; }
cd "$ROOT"
exec "$VENV/bin/python" "$ROOT/devtools/drill.py" "$@"
