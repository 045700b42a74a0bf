#!/usr/bin/env bash
# tools/windows/proof.sh: proves the Windows sysroot. Builds tools/windows/proof/ (a Meson
# project using GLib, GIO, libnice, json-glib, libsrtp2, OpenSSL and libcurl) with the
# cross files, fully static, lists the DLLs the .exe imports (Windows' own only), then
# runs it under Wine in a throw-away prefix: libnice gathers on loopback, libsrtp2
# round-trips a packet, OpenSSL hashes, libcurl fetches over HTTPS from an
# `openssl s_server` this script starts on 127.0.0.1. Its JSON is printed and checked.
#   tools/windows/proof.sh [BUILD-DIR]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
command -v wine >/dev/null || {
	echo "proof: wine is not installed (apt-get install wine wine64)" >&2
	exit 3
}
SYSROOT=$("$HERE/sysroot.sh" | tail -n 1)
WORK=$(mktemp -d /tmp/iceprobe-win-proof.XXXXXX)
BUILD=${1:-$WORK/build}
SERVER=
cleanup() {
	if [ -n "$SERVER" ]; then
		kill "$SERVER" 2>/dev/null || true
		wait "$SERVER" 2>/dev/null || true # 143: the TERM it was sent
	fi
	# The Wine server of this prefix lingers a few seconds after the program; stop it.
	WINEPREFIX=$WORK/wine wineserver -k 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$HERE/proof" --cross-file "$HERE/x86_64-w64-mingw32.ini" \
	--cross-file "$SYSROOT/meson-sysroot.ini" >"$WORK/setup.log" 2>&1 || {
	cat "$WORK/setup.log" >&2
	exit 3
}
nice -n 19 meson compile -C "$BUILD" -j 1 >"$WORK/compile.log" 2>&1 || {
	cat "$WORK/compile.log" >&2
	exit 3
}
EXE=$BUILD/proof.exe
echo "proof.exe: $(du -h "$EXE" | cut -f1), imports: $(x86_64-w64-mingw32-objdump -p "$EXE" |
	sed -n 's/^\tDLL Name: //p' | sort | tr '\n' ' ')"

# A TLS server on loopback with a certificate made now, for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -days 1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl s_server -accept "127.0.0.1:$PORT" -cert "$WORK/cert.pem" -key "$WORK/key.pem" -www -quiet \
	</dev/null >/dev/null 2>&1 &
SERVER=$!

export WINEPREFIX=$WORK/wine WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
start=$(date +%s.%N)
wineboot -i >/dev/null 2>&1 || true
booted=$(date +%s.%N)
CA=$(winepath -w "$WORK/cert.pem")
timeout 120 wine "$EXE" "https://127.0.0.1:$PORT/" "$CA" >"$WORK/out.json" 2>"$WORK/err.txt" || {
	echo "proof: proof.exe failed under Wine" >&2
	cat "$WORK/err.txt" >&2
	exit 1
}
done=$(date +%s.%N)
cat "$WORK/out.json"
[ -s "$WORK/err.txt" ] && {
	echo "--- what Wine printed on stderr:"
	cat "$WORK/err.txt"
}
printf 'Wine prefix set up in %.1f s; proof.exe ran in %.1f s\n' "$(echo "$booted - $start" | bc)" \
	"$(echo "$done - $booted" | bc)"

# The checks: each prints PASS or FAIL; the script fails if any fails.
fails=0
check() {
	if jq -e "$2" "$WORK/out.json" >/dev/null; then echo "PASS $1"; else
		echo "FAIL $1"
		fails=$((fails + 1))
	fi
}
check "libnice gathered (candidate-gathering-done)" '.nice.gathering_done == true'
check "libnice has a host candidate on 127.0.0.1" '[.nice.candidates[] | select(startswith("host udp 127.0.0.1:"))] | length == 1'
check "libsrtp2 protect/unprotect round trip" '.srtp.round_trip == true and .srtp.protected_length == 42'
check "OpenSSL SHA-256(abc)" '.openssl.sha256_abc == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"'
check "libcurl over OpenSSL" '.curl.ssl | startswith("OpenSSL/")'
check "HTTPS GET from the loopback server: 200" '.curl.https_status == 200 and .curl.https_body_bytes > 0'
echo "proof: $((6 - fails)) passed, $fails failed"
[ "$fails" = 0 ]
