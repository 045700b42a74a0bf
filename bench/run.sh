#!/usr/bin/env bash
# ./run bench: every benchmark under bench/, each printing its table.
set -u
here=$(dirname "$0")
rc=0
for b in "$here"/*.sh; do
	[ "$(basename "$b")" = run.sh ] && continue
	bash "$b" || rc=1
done
exit $rc
