#!/usr/bin/env bash
# ansible-test units and integration (a step of scripts/test.sh; alone: bash scripts/integration.sh):
# units runs tests/unit (layout tests/unit/plugins/..., virtualenv from tests/unit/requirements.txt);
# the integration targets in tests/integration/targets/ run against a throwaway PostgreSQL that the
# setup_dbbackup_postgresql target starts (devtools/pg_fixture.py) and this script stops at the end.
# ansible-test's virtualenv gets tests/integration/requirements.txt. As root (the targets start
# servers as the postgres user): --allow-root, --allow-destructive.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DBBACKUP_VENV:-$HOME/.cache/dbbackup/venv}"
coll="$(bash "$ROOT/scripts/collection_tree.sh" "${DBBACKUP_INTEGRATION_TREE:-$HOME/.cache/dbbackup/integration}")" || exit 1
# the setup target's directory (its defaults/main.yml): /tmp/dbbackup-integration-<sha1 of the tree>[:12].
# What a killed run left there is stopped and removed first.
server_dir="/tmp/dbbackup-integration-$(printf '%s' "$(cd "$coll" && pwd -P)" | sha1sum | cut -c1-12)"
stop_server() {
    "$VENV/bin/python" "$ROOT/devtools/pg_fixture.py" stop "$server_dir/pg" >/dev/null 2>&1 || true
    rm -rf "$server_dir"
}
stop_server
trap stop_server EXIT
pyver="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
# shellcheck disable=SC1091
(cd "$coll" && source "$VENV/bin/activate" && \
    ansible-test units --venv --python "$pyver" --color no) || exit 1
# shellcheck disable=SC1091
(cd "$coll" && source "$VENV/bin/activate" && \
    ansible-test integration --venv --python "$pyver" --allow-root --allow-destructive --color no "$@")
