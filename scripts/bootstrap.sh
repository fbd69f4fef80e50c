#!/usr/bin/env bash
# Idempotent set-up of a machine for the test suite (CI runs it on a fresh Debian 12).
#
#   bash scripts/bootstrap.sh          # quiet on success; prints the venv path with -v
#
# 1. PostgreSQL 15 server binaries (apt) when /usr/lib/postgresql/15/bin/initdb is
#    missing. Debian's default cluster is not created (or is stopped): the tests
#    start their own throwaway servers (devtools/pg_temp.py). Also shellcheck, for
#    ansible-test's shellcheck sanity test (optional: a warning if it cannot be had).
# 2. A virtualenv outside the checkout (ansible-test must never scan it):
#    ${DBBACKUP_VENV:-$HOME/.cache/dbbackup/venv}, with requirements-test.txt.
# 2b. Azurite (Azure Blob Storage emulator of the azure:// tests) from npm, run with the
#    machine's Node.js: ${DBBACKUP_AZURITE_DIR:-$HOME/.cache/dbbackup/azurite-<version>}.
# 3. The stand-in for ansible-test's pip bootstrap script, which ansible-test would
#    otherwise download from a host this network cannot reach
#    (see docs/testing.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DBBACKUP_VENV:-$HOME/.cache/dbbackup/venv}"
PYTHON="${PYTHON:-python3}"
PG_MAJOR=15
PG_INITDB="/usr/lib/postgresql/$PG_MAJOR/bin/initdb"
VERBOSE=0
MODE=tests          # tests: everything the suite needs; drill: only what scripts/drill.sh needs
NEED_PG=1
for arg in "$@"; do
    case "$arg" in
        -v) VERBOSE=1 ;;
        --drill) MODE=drill ;;
        --no-postgres) NEED_PG=0 ;;
        *) echo "bootstrap: unknown argument $arg (use -v, --drill, --no-postgres)" >&2; exit 2 ;;
    esac
done

LOG="$(mktemp -t dbbackup-bootstrap.XXXXXX)"
trap 'rm -f "$LOG"' EXIT

die() {
    echo "bootstrap: ERROR: $*" >&2
    if [ -s "$LOG" ]; then
        echo "bootstrap: output of the failed step (last 40 lines):" >&2
        tail -n 40 "$LOG" >&2
    fi
    exit 1
}
say() { [ "$VERBOSE" = 1 ] && echo "bootstrap: $*" >&2; return 0; }
# What takes a while is always said in drill mode: a first-time user should not watch silence.
progress() { if [ "$MODE" = drill ]; then echo "drill: $*" >&2; elif [ "$VERBOSE" = 1 ]; then echo "bootstrap: $*" >&2; fi; }

# Run a command quietly; its output is kept in $LOG and shown only on failure.
quiet() {
    : >"$LOG"
    "$@" >>"$LOG" 2>&1
}

# Root runs apt directly; anyone else goes through sudo (non-interactive in CI).
as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if [ -t 0 ] && [ -z "${CI:-}" ]; then sudo "$@"; else sudo -n "$@"; fi
    else
        return 127
    fi
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    quiet as_root env DEBIAN_FRONTEND=noninteractive apt-get update \
        || die "apt-get update failed (run as root or as a user with sudo; check the Debian mirror)."
    quiet as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" \
        || die "apt-get install $* failed (run as root or as a user with sudo)."
}

# --- 1. PostgreSQL server binaries (required) and shellcheck (optional) -------------
install_system_packages() {
    local need_pg=0 need_sc=0
    [ -x "$PG_INITDB" ] || need_pg=1
    # ansible-test's shellcheck sanity test only warns when shellcheck is missing.
    [ "$MODE" = tests ] && ! command -v shellcheck >/dev/null 2>&1 && need_sc=1
    [ "$NEED_PG" = 1 ] || need_pg=0
    if [ "$need_pg" = 0 ] && [ "$need_sc" = 0 ]; then
        say "PostgreSQL $PG_MAJOR binaries and shellcheck present"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; }; then
        [ "$need_pg" = 1 ] && die "$PG_INITDB is missing and cannot be installed here (needs apt-get as root or via sudo): install the PostgreSQL $PG_MAJOR server package, or set PG_BIN to its bin directory."
        echo "bootstrap: warning: shellcheck is missing (the ansible-test shellcheck sanity test will be skipped)." >&2
        return 0
    fi
    local pkgs=()
    if [ "$need_pg" = 1 ]; then
        say "installing postgresql-$PG_MAJOR"
        progress "installing PostgreSQL $PG_MAJOR server binaries with apt (a minute or two; the Debian cluster is not created)"
        # Ask postgresql-common not to create (and so not start) the default cluster:
        # Debian 12's createcluster.conf includes this directory; creating it before
        # the package is installed is harmless.
        quiet as_root mkdir -p /etc/postgresql-common/createcluster.d \
            || die "cannot create /etc/postgresql-common/createcluster.d (need root or sudo)."
        quiet as_root sh -c 'echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/50-dbbackup-tests.conf' \
            || die "cannot write /etc/postgresql-common/createcluster.d/50-dbbackup-tests.conf (need root or sudo)."
        # contrib modules (pg_trgm, hstore, ...) ship inside postgresql-15 on Debian 12.
        pkgs+=("postgresql-$PG_MAJOR")
    fi
    [ "$need_sc" = 1 ] && pkgs+=(shellcheck)
    if [ "$need_pg" = 1 ]; then
        apt_install "${pkgs[@]}"
    elif ! (apt_install "${pkgs[@]}") 2>/dev/null; then
        echo "bootstrap: warning: could not install shellcheck (the ansible-test shellcheck sanity test will be skipped)." >&2
        return 0
    fi
    if [ "$need_pg" = 1 ]; then
        [ -x "$PG_INITDB" ] || die "postgresql-$PG_MAJOR was installed but $PG_INITDB is still missing."
        # If a cluster was created and started anyway (older postgresql-common, no
        # policy-rc.d), stop it: the tests run their own servers on free ports.
        if command -v pg_lsclusters >/dev/null 2>&1; then
            pg_lsclusters -h 2>/dev/null | while read -r ver name _port status _rest; do
                if [ "$status" = online ]; then
                    say "stopping Debian's cluster $ver/$name"
                    as_root pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
                fi
            done
        fi
    fi
}

# --- 1b. MariaDB server and client (MySQL/MariaDB tests and bench) ------------------
# mariadbd, mariadb-install-db, mariadb, mariadb-dump and mariadb-binlog from Debian's
# mariadb-server and mariadb-client. The tests start their own throwaway servers
# (devtools/mysql_temp.py) and never use Debian's service: while the packages are
# installed a policy-rc.d denies starting services (unless one already exists, as in
# most containers), and a server the packages started anyway is stopped.
install_mariadb() {
    local missing=0 tool policy=/usr/sbin/policy-rc.d ours=0 rc=0
    [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ] || missing=1
    for tool in mariadb-install-db mariadb mariadb-dump mariadb-binlog; do
        command -v "$tool" >/dev/null 2>&1 || missing=1
    done
    if [ "$missing" = 0 ]; then
        say "MariaDB server and client present"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; }; then
        die "MariaDB binaries are missing and cannot be installed here (needs apt-get as root or via sudo): install mariadb-server and mariadb-client."
    fi
    if [ ! -e "$policy" ]; then
        quiet as_root sh -c "printf '#!/bin/sh\n# dbbackup bootstrap: no service starts during its apt-get install\nexit 101\n' > $policy && chmod 755 $policy" \
            || die "cannot write $policy (need root or sudo)."
        ours=1
    fi
    say "installing mariadb-server mariadb-client"
    (apt_install mariadb-server mariadb-client) || rc=$?
    [ "$ours" = 1 ] && as_root rm -f "$policy"
    [ "$rc" = 0 ] || exit "$rc"
    command -v mariadb-install-db >/dev/null 2>&1 || die "mariadb-server was installed but mariadb-install-db is still missing."
    # Debian's own server, if a package script started it anyway (it listens on 3306).
    if [ -e /run/mysqld/mysqld.pid ] || [ -S /run/mysqld/mysqld.sock ]; then
        say "stopping Debian's MariaDB service"
        if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
            as_root systemctl stop mariadb >/dev/null 2>&1 || true
        else
            as_root /etc/init.d/mariadb stop >/dev/null 2>&1 || true
        fi
    fi
}

# --- 1c. What the role tests and the version matrix need ------------------------------
# prometheus-node-exporter (the metrics role and scenario), debootstrap (the chroots of the
# server-version matrix, tests/versions, and of the SSH fleet, tests/fleet), openssh-client (the
# fleet's controller), python3-venv for the system
# Python (the agent role builds its virtualenv with /usr/bin/python3), systemd for
# systemd-analyze (the schedule role verifies its units; systemd need not be running).
# Services are not started while installing (policy-rc.d), and a node_exporter that was
# started anyway is stopped: the scenario runs its own on a free loopback port.
install_role_test_packages() {
    local pkgs=() policy=/usr/sbin/policy-rc.d ours=0 rc=0
    [ -x /usr/bin/prometheus-node-exporter ] || pkgs+=(prometheus-node-exporter)
    # the server-version matrix builds Debian chroots of other releases (devtools/debian_chroot.py)
    command -v debootstrap >/dev/null 2>&1 || pkgs+=(debootstrap)
    # the SSH fleet (tests/fleet): the controller's ssh and ssh-keygen
    { command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; } || pkgs+=(openssh-client)
    { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1; } || pkgs+=(python3 python3-venv)
    command -v systemd-analyze >/dev/null 2>&1 || pkgs+=(systemd)
    if [ "${#pkgs[@]}" = 0 ]; then
        say "node_exporter, debootstrap, openssh-client, python3-venv and systemd-analyze present"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; }; then
        die "${pkgs[*]} missing and cannot be installed here (needs apt-get as root or via sudo)."
    fi
    if [ ! -e "$policy" ]; then
        quiet as_root sh -c "printf '#!/bin/sh\n# dbbackup bootstrap: no service starts during its apt-get install\nexit 101\n' > $policy && chmod 755 $policy" \
            || die "cannot write $policy (need root or sudo)."
        ours=1
    fi
    say "installing ${pkgs[*]}"
    (apt_install "${pkgs[@]}") || rc=$?
    [ "$ours" = 1 ] && as_root rm -f "$policy"
    [ "$rc" = 0 ] || exit "$rc"
    if [ -x /etc/init.d/prometheus-node-exporter ] && [ ! -d /run/systemd/system ]; then
        as_root /etc/init.d/prometheus-node-exporter stop >/dev/null 2>&1 || true
    fi
}

# --- 2. virtualenv ------------------------------------------------------------
venv_requirements() {
    # tests: requirements-test.txt; drill: requirements.txt and ansible-core (its pin from requirements-test.txt)
    if [ "$MODE" = tests ]; then
        echo "-r $ROOT/requirements-test.txt"
    else
        echo "-r $ROOT/requirements.txt"
        grep -E '^ansible-core' "$ROOT/requirements-test.txt"
    fi
}

make_venv() {
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; install Python 3.11 or set PYTHON."
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
        || die "$PYTHON is $("$PYTHON" -V 2>&1); the test tools (ansible-core 2.19) need Python 3.11 or newer."
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        say "creating virtualenv $VENV"
        rm -rf "$VENV"
        mkdir -p "$(dirname "$VENV")"
        if ! quiet "$PYTHON" -m venv "$VENV"; then
            # Debian's own python3 ships venv/ensurepip separately.
            rm -rf "$VENV"
            command -v apt-get >/dev/null 2>&1 || die "'$PYTHON -m venv' failed and apt-get is not available to install python3-venv."
            apt_install python3-venv
            quiet "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv $VENV' failed even after installing python3-venv."
        fi
    fi
    # Reinstall only when the requirements (or the python) changed.
    local stamp want
    stamp="$VENV/.dbbackup-requirements.sha256"
    want="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-test.txt" | sha256sum | cut -d' ' -f1) $MODE $("$VENV/bin/python" -V 2>&1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        say "virtualenv up to date: $VENV"
        return 0
    fi
    say "installing the $MODE requirements into $VENV"
    progress "installing the collection's Python requirements and ansible-core into $VENV (about a minute)"
    local reqs
    reqs="$(mktemp -t dbbackup-requirements.XXXXXX)"
    venv_requirements >"$reqs"
    if ! quiet "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$reqs"; then
        rm -f "$reqs"
        die "pip install of the $MODE requirements failed in $VENV (is PyPI reachable?)."
    fi
    rm -f "$reqs"
    echo "$want" >"$stamp"
}

# --- 2b. Azurite from npm (tests/support/azurite.py) ---------------------------
# 3.35.0 is the newest release that runs on Node.js 18/20 (3.36+ need 22); nodejs and npm
# come from Debian when the machine has no node. --skipApiVersionCheck lets newer clients in.
AZURITE_VERSION=3.35.0
AZURITE_DIR="${DBBACKUP_AZURITE_DIR:-$HOME/.cache/dbbackup/azurite-$AZURITE_VERSION}"
install_azurite() {
    if [ -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ] && command -v node >/dev/null 2>&1; then
        say "Azurite $AZURITE_VERSION present in $AZURITE_DIR"
        return 0
    fi
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 || die "node and npm are missing (Azurite needs them) and apt-get is not available."
        say "installing nodejs npm"
        apt_install nodejs npm
    fi
    node -e 'process.exit(parseInt(process.versions.node) >= 18 ? 0 : 1)' \
        || die "Azurite needs Node.js 18 or newer; this machine has $(node --version)."
    say "installing azurite@$AZURITE_VERSION into $AZURITE_DIR"
    mkdir -p "$AZURITE_DIR"
    quiet npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" \
        || die "npm install azurite@$AZURITE_VERSION failed (is the npm registry reachable?)."
    [ -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ] || die "azurite was installed but azurite-blob is missing in $AZURITE_DIR."
}

# --- 3. ansible-test pip bootstrap stand-in -------------------------------------
# ansible-test creates its own virtualenvs and bootstraps pip in them with a script it
# downloads from ci-files.testing.ansible.com, which this network cannot reach. The
# script is looked up first in a cache whose file name follows the pip version that the
# installed ansible-test pins; we read both from the installed ansible-test itself.
write_get_pip_standin() {
    local path
    path="$("$VENV/bin/python" "$ROOT/devtools/ansible_test_pip.py")" \
        || die "could not write the ansible-test pip bootstrap stand-in (devtools/ansible_test_pip.py)."
    say "ansible-test pip bootstrap script: $path"
}

if [ "$MODE" = drill ]; then
    # The drill reuses the test suite's virtualenv when one is there and current, else its own.
    if [ -z "${DBBACKUP_VENV:-}" ]; then
        VENV="$HOME/.cache/dbbackup/venv-drill"
        test_venv="$HOME/.cache/dbbackup/venv"
        if [ -f "$test_venv/.dbbackup-requirements.sha256" ] && grep -q ' tests ' "$test_venv/.dbbackup-requirements.sha256" \
            && [ "$(cut -d' ' -f1 "$test_venv/.dbbackup-requirements.sha256")" = \
                 "$(cat "$ROOT/requirements.txt" "$ROOT/requirements-test.txt" | sha256sum | cut -d' ' -f1)" ]; then
            VENV="$test_venv"
            MODE=tests
        fi
    fi
    install_system_packages
    make_venv
    echo "$VENV"
    exit 0
fi
install_system_packages
install_mariadb
install_role_test_packages
make_venv
install_azurite
write_get_pip_standin
say "ready: venv $VENV"
