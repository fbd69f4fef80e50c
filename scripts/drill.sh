#!/usr/bin/env bash
# The DR drill in one command, on a fresh machine (bash scripts/drill.sh --help for everything):
#
#   bash scripts/drill.sh                  # throwaway PostgreSQL, sample database
#   bash scripts/drill.sh --scale 10       # bigger sample (1M accounts)
#   PGPASSWORD=... bash scripts/drill.sh --login-host db1 --database orders
#
# 1. scripts/bootstrap.sh --drill: only what the drill needs, when missing: PostgreSQL 15 server
#    binaries (not with --login-host) and a virtualenv with requirements.txt and ansible-core
#    (the test suite's virtualenv when it is there, else ~/.cache/dbbackup/venv-drill).
# 2. devtools/drill.py with that virtualenv's python: back up with dbbackup.dbbackup.dbbackup_backup,
#    restore with dbbackup.dbbackup.dbbackup_restore (playbooks/drill.yml via ansible-playbook),
#    prove the copy identical, print RTO / sizes / verdict. Exit status 0 only when IDENTICAL.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

external=0
for arg in "$@"; do
    case "$arg" in
        -h|--help) exec python3 "$ROOT/devtools/drill.py" --help ;;   # nothing is installed for --help
        --login-host|--login-host=*) external=1 ;;
    esac
done

# Ansible refuses to start without a UTF-8 locale, and a LANG forwarded by ssh (en_US.UTF-8)
# need not exist on this machine: fall back to C.UTF-8, which always does.
if ! python3 -c 'import locale, sys; locale.setlocale(locale.LC_ALL, ""); sys.exit(0 if locale.getpreferredencoding(False).lower().replace("-", "") == "utf8" else 1)' 2>/dev/null; then
    export LC_ALL=C.UTF-8 LANG=C.UTF-8
fi

echo "drill: checking what the drill needs (first run: installs it)" >&2
flags=(--drill)
[ "$external" = 1 ] && flags+=(--no-postgres)
VENV="$(bash "$ROOT/scripts/bootstrap.sh" "${flags[@]}")"
[ -x "$VENV/bin/python" ] || { echo "drill: $VENV/bin/python missing after bootstrap" >&2; exit 1; }
exec "$VENV/bin/python" "$ROOT/devtools/drill.py" "$@"
