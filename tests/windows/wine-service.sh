# Helpers of the tests that drive Wine's Service Control Manager (service-windows.sh,
# msi-windows.sh); sourced. They need WINE_RUN, PREFIX, QUERY (svcquery.exe), SERVICE
# and dir (the test's scratch directory).

# winpath PATH: the Unix path as Wine's Z: drive shows it.
winpath() { printf 'Z:%s' "$1" | tr / '\\'; }
# wine_ PROGRAM ARGS...: under Wine in the test's prefix, its CRs dropped, Wine's
# own messages into $dir/wine.err.
wine_() { "$WINE_RUN" "$PREFIX" "$@" 2>>"$dir/wine.err" | tr -d '\r'; }
# query: svcquery's line for the service ("absent", or "state=... path=...").
query() { wine_ "$QUERY" "$SERVICE"; }
# wait_state STATE SECONDS: polls the SCM until the service is in STATE (or absent,
# for "absent"); prints the last answer.
wait_state() {
	local until=$((SECONDS + $2)) q
	while :; do
		q=$(query)
		case $q in "state=$1 "* | "$1") break ;; esac
		[ $SECONDS -ge $until ] && break
		sleep 0.5
	done
	printf '%s' "$q"
}
# wait_log FILE PATTERN SECONDS: until FILE has a line matching PATTERN.
wait_log() {
	local until=$((SECONDS + $3))
	while ! grep -Eq -- "$2" "$1" 2>/dev/null && [ $SECONDS -lt $until ]; do sleep 0.5; done
}
# hold_prefix: a Windows program that stays, in the background, for the test's life:
# Wine ends a prefix's services a few seconds after its last ordinary program exits.
# release_prefix ends it.
hold_prefix() {
	"$WINE_RUN" "$PREFIX" "$QUERY" --hold 900 >/dev/null 2>&1 &
	HOLD_PID=$!
}
release_prefix() {
	[ -n "${HOLD_PID:-}" ] && kill "$HOLD_PID" 2>/dev/null
	wait "${HOLD_PID:-}" 2>/dev/null
	HOLD_PID=
}
