#!/usr/bin/env bash
# The supported ansible-core range (a step of scripts/test.sh; alone: bash scripts/ansible_core_range.sh):
# ansible-test sanity and the module tests (modules through ansible-playbook) on
#
#   lowest   ansible-core of meta/runtime.yml's requires_ansible (2.16), on Python 3.11
#   newest   the newest ansible-core installable here, on the newest Python found (3.12+;
#            ansible-core 2.20 and later need it)
#
# (the test suite itself runs on the ansible-core of requirements-test.txt). Each gets a
# virtualenv ~/.cache/dbbackup/venv-core-<label> with that ansible-core, requirements.txt and
# pytest, rebuilt when its inputs change. A missing interpreter is a failure, not a skip.
#
#   CORE_RANGE="lowest newest"  which ones (default both)
#   PYTHON_LOWEST / PYTHON_NEWEST   interpreters (default: python3.11 / the newest python3.1x found)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DBBACKUP_CACHE:-$HOME/.cache/dbbackup}"
lowest_core="ansible-core==$(sed -n 's/^requires_ansible: *"*>=\([0-9]*\.[0-9]*\).*/\1/p' "$ROOT/meta/runtime.yml").*"
failed=()

newest_python() {
    local v
    local c
    for v in 3.14 3.13 3.12; do
        # python3.X on PATH (a pyenv shim may name a version that is not active), else pyenv's own
        for c in "$(command -v "python$v" 2>/dev/null || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python3; do
            if [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import ssl, venv' >/dev/null 2>&1; then
                echo "$c"
                return 0
            fi
        done
    done
    return 1
}

venv_for() {  # label python core-spec -> prints the venv path
    local label="$1" python="$2" core="$3" venv want
    venv="$CACHE/venv-core-$label"
    want="$(printf '%s\n%s\n' "$core" "$("$python" -V 2>&1)" | cat - "$ROOT/requirements.txt" | sha256sum | cut -d' ' -f1)"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]; then
        echo "-- $label: virtualenv with $core on $("$python" -V 2>&1)" >&2
        rm -rf "$venv"
        "$python" -m venv "$venv" >&2 || return 1
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "$core" -r "$ROOT/requirements.txt" \
            'pytest>=7.4' 'pytest-timeout>=2.1' >&2 || return 1
        echo "$want" >"$venv/.stamp"
    fi
    echo "$venv"
}

run_one() {  # label python core-spec
    local label="$1" python="$2" core="$3" venv version coll t
    t=$(date +%s)
    venv="$(venv_for "$label" "$python" "$core")" || { echo "== ansible-core $label: could not build its virtualenv" >&2; return 1; }
    version="$("$venv/bin/ansible" --version | head -n 1)"
    echo "-- $label: $version, $("$venv/bin/python" -V)"
    "$venv/bin/python" "$ROOT/devtools/ansible_test_pip.py" >/dev/null || return 1
    coll="$(bash "$ROOT/scripts/collection_tree.sh" "$CACHE/sanity-core-$label")" || return 1
    local pyver rc=0
    pyver="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    echo "-- $label: ansible-test sanity --python $pyver"
    (cd "$coll" && PATH="$venv/bin:$PATH" ansible-test sanity --venv --python "$pyver" --color no) || rc=1
    echo "-- $label: module tests (ansible-playbook of this ansible-core)"
    (cd "$ROOT" && "$venv/bin/python" -m pytest -p no:cacheprovider -q -ra \
        tests/integration/test_modules.py tests/integration/test_playbooks_check_mode.py) || rc=1
    echo "== ansible-core $label ($version): $([ "$rc" = 0 ] && echo OK || echo FAILED) ($(( $(date +%s) - t ))s)"
    return "$rc"
}

# The versions run side by side (each waits on pip, ansible-test and its servers much of the time);
# each one's output is printed whole when it ends.
out="$(mktemp -d "${TMPDIR:-/tmp}/dbbackup-core-range.XXXXXX")"
pids=()
labels=()
for label in ${CORE_RANGE:-lowest newest}; do
    case "$label" in
        lowest)
            python="${PYTHON_LOWEST:-$(command -v python3.11 || command -v python3)}"
            core="$lowest_core" ;;
        newest)
            python="${PYTHON_NEWEST:-$(newest_python)}"
            core="ansible-core"
            if [ -z "$python" ]; then
                echo "== ansible-core newest: no Python 3.12 or newer found (ansible-core 2.20+ needs one); set PYTHON_NEWEST." >&2
                failed+=(newest)
                continue
            fi ;;
        *) echo "unknown CORE_RANGE entry $label" >&2; failed+=("$label"); continue ;;
    esac
    run_one "$label" "$python" "$core" >"$out/$label.log" 2>&1 &
    pids+=("$!")
    labels+=("$label")
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${labels[$i]}")
    cat "$out/${labels[$i]}.log"
done
rm -rf "$out"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "ansible-core range FAILED: ${failed[*]}"
    exit 1
fi
echo "ansible-core range OK"
