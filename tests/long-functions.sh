#!/usr/bin/env bash
# Lists the product's top-level C functions longer than MAX lines (100), from
# the first line of the signature to the closing brace, as FILE:LINE NAME LINES;
# exits 1 when there is one. Reads clang-format's layout (.clang-format): a
# function's braces stand alone in the first column.
# Usage: tests/long-functions.sh [MAX] [DIR...]   (dirs: common probe controller)
set -euo pipefail
cd "$(dirname "$0")/.."
max=${1:-100}
shift || true
dirs=(common probe controller)
[ $# -eq 0 ] || dirs=("$@")
find "${dirs[@]}" -name '*.c' -print0 | sort -z | xargs -0 awk -v max="$max" '
	FNR == 1 { start = 0; sig = 0 }
	# A signature starts after a blank line, a closing brace, a statement or a comment.
	/^[A-Za-z_]/ && !start && !sig { sig = FNR }
	/^$/ || /;$/ || /^}/ || /\*\/$/ { if (!start) sig = 0 }
	/^\{$/ && sig { start = sig; name = prev_name }
	/^[A-Za-z_].*\(/ && !start { n = $0; sub(/\(.*/, "", n); sub(/.*[ *]/, "", n); prev_name = n }
	/^}$/ && start {
		len = FNR - start + 1
		if (len > max) { printf "%s:%d %s %d\n", FILENAME, start, name, len; found = 1 }
		start = 0; sig = 0
	}
	END { exit found }
' || exit 1
