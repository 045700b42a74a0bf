# shellcheck shell=bash
# Assertions for lab scripts: each prints one line, the summary sets the exit code.
ASSERT_PASSED=0
ASSERT_FAILED=0

_assert_report() { # ok|FAIL description [detail]
	if [ "$1" = ok ]; then
		ASSERT_PASSED=$((ASSERT_PASSED + 1))
		printf '  \033[32mok\033[0m   %s\n' "$2"
	else
		ASSERT_FAILED=$((ASSERT_FAILED + 1))
		printf '  \033[31mFAIL\033[0m %s\n       %s\n' "$2" "$3"
	fi
}
section() {
	local how=""
	[ "${LAB_BUSY:-off}" = off ] || how=" [busy tunnel: $LAB_BUSY]"
	[ "${LAB_IPV6:-off}" = off ] || how="$how [IPv6: $LAB_IPV6]"
	printf '%s%s\n' "$*" "$how"
}
assert_eq() { if [ "$2" = "$3" ]; then _assert_report ok "$1"; else _assert_report FAIL "$1" "got '$2', want '$3'"; fi; }
assert_ne() { if [ "$2" != "$3" ]; then _assert_report ok "$1"; else _assert_report FAIL "$1" "got '$2', want anything else"; fi; }
assert_gt() { if [ "$2" -gt "$3" ] 2>/dev/null; then _assert_report ok "$1"; else _assert_report FAIL "$1" "got $2, want more than $3"; fi; }
assert_lt() { if [ "$2" -lt "$3" ] 2>/dev/null; then _assert_report ok "$1"; else _assert_report FAIL "$1" "got $2, want less than $3"; fi; }
assert_match() { if printf '%s' "$2" | grep -Eq -- "$3"; then _assert_report ok "$1"; else _assert_report FAIL "$1" "no match for /$3/ in: $(printf '%s' "$2" | head -c 600)"; fi; }
assert_no_match() { if ! printf '%s' "$2" | grep -Eq -- "$3"; then _assert_report ok "$1"; else _assert_report FAIL "$1" "unexpected /$3/: $(printf '%s' "$2" | grep -E -- "$3" | head -3)"; fi; }
assert_ok() {
	local d=$1
	shift
	local out
	if out=$("$@" 2>&1); then _assert_report ok "$d"; else _assert_report FAIL "$d" "command failed: $* :: $(printf '%s' "$out" | tail -3)"; fi
}
assert_fails() {
	local d=$1
	shift
	if "$@" >/dev/null 2>&1; then _assert_report FAIL "$d" "command succeeded: $*"; else _assert_report ok "$d"; fi
}
# Closing line in the plain form CI reads: "N passed, N failed".
assert_summary() {
	printf '%s: %d passed, %d failed\n' "${ASSERT_NAME:-lab}" "$ASSERT_PASSED" "$ASSERT_FAILED"
	[ "$ASSERT_FAILED" = 0 ]
}
