#!/usr/bin/env bash
# Lay out this checkout as DIR/ansible_collections/<namespace>/<name> (what ansible-test and
# galaxy tools need) and print that path:
#
#   coll="$(bash scripts/collection_tree.sh ~/.cache/dbbackup/sanity)"
#
# The copy holds the files git knows about (tracked, plus new files that are not ignored); a
# symlink would not do (ansible-test resolves the working directory). Its tests/output
# (ansible-test's caches) is kept between runs; everything else is replaced.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ "$#" = 1 ] || { echo "usage: scripts/collection_tree.sh DIR" >&2; exit 2; }
ns=$(sed -n 's/^namespace: *//p' "$ROOT/galaxy.yml" | tr -d '"'"'"' ')
name=$(sed -n 's/^name: *//p' "$ROOT/galaxy.yml" | tr -d '"'"'"' ')
case "$ROOT" in
    */ansible_collections/"$ns"/"$name") echo "$ROOT"; exit 0 ;;   # already laid out: use it in place
esac
coll="$1/ansible_collections/$ns/$name"
mkdir -p "$coll"
find "$coll" -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf {} +
if [ -d "$coll/tests" ]; then
    find "$coll/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} +
fi
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
        | tar --null -T - -cf -) | tar -xf - -C "$coll"
else
    (cd "$ROOT" && tar --exclude=./.git --exclude=./tests/output --exclude=__pycache__ -cf - .) | tar -xf - -C "$coll"
fi
echo "$coll"
