#!/usr/bin/env bash
# tools/windows/wine-run.sh PREFIX PROGRAM.exe [ARGS...]: runs a Windows program under Wine
# in the Wine prefix PREFIX (made on first use, under a lock, so that tests run in parallel
# share one), as tools/windows/proof.sh does: no debug output, no offer to install Mono or
# Gecko. Its exit status is the program's, and a crash's is not 0: Wine's debugger
# (winedbg), which would take a crash over and end with status 0, is switched off. The suite 'windows' of a Windows build runs its
# tests with it (tests/unit/meson.build).
set -euo pipefail
[ $# -ge 2 ] || {
	echo "usage: $0 PREFIX PROGRAM.exe [ARGS...]" >&2
	exit 2
}
command -v wine >/dev/null || {
	echo "wine-run: wine is not installed (apt-get install wine wine64)" >&2
	exit 3
}
export WINEPREFIX=$1 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d"
shift
mkdir -p "$WINEPREFIX"
(
	flock 9
	# system.reg is written once the prefix is set up (wineboot -i, 8-20 s the first time).
	[ -f "$WINEPREFIX/system.reg" ] || wineboot -i >/dev/null 2>&1 || true
) 9>"$WINEPREFIX.lock"
exec wine "$@"
