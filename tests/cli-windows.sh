#!/usr/bin/env bash
# iceprobe.exe under Wine, without a network: the command line, the interfaces as the
# Windows side reads them (IP Helper), and a run against 127.0.0.1 where nothing listens,
# whose result says what Windows could not give (docs/windows.md). Suite 'windows'.
# Usage: tests/cli-windows.sh WINE-RUN PREFIX ICEPROBE.EXE VERSION
set -u
. "$(dirname "$0")/lab/assert.sh"
ASSERT_NAME=cli-windows # assert_summary's
WINE_RUN=$1 PREFIX=$2 EXE=$3 VERSION=$4
dir=$(mktemp -d /tmp/iceprobe-cli-windows.XXXXXX)
trap 'rm -rf "$dir"' EXIT

run() { # args... -> sets RC and OUT (stdout without Windows' CRs; Wine's stderr in $dir/err)
	"$WINE_RUN" "$PREFIX" "$EXE" "$@" >"$dir/out" 2>"$dir/err"
	RC=$?
	OUT=$(tr -d '\r' <"$dir/out")
}

section "command line"
run --version
assert_eq "--version" "$RC/$OUT" "0/iceprobe $VERSION"
run run --help
assert_eq "run --help exits 0" "$RC" 0
assert_match "run --help lists --profile" "$OUT" "--profile=FILE"
run agent --help
assert_match "the spool's default is Windows' own" "$OUT" 'ProgramData%\\iceprobe\\spool when elevated'

section "interfaces (GetAdaptersAddresses, GetIfEntry2)"
run interfaces --json
assert_eq "interfaces --json exits 0" "$RC" 0
assert_eq "the loopback adapter, by its IfType" \
	"$(printf '%s' "$OUT" | jq -r '.interfaces[] | select(.class == "loopback") | .reason' | head -1)" \
	"IfType 24 (IF_TYPE_SOFTWARE_LOOPBACK)"
assert_match "127.0.0.1 is on it" "$(printf '%s' "$OUT" | jq -c '.interfaces[] | select(.class == "loopback")')" \
	'"127\.0\.0\.1/8"'

section "a run against 127.0.0.1, nothing listening"
printf 'unit-test-password\n' >"$dir/turn.password"
printf '[profile]\nname=wine\n[edge]\nhost=127.0.0.1\nusername=u\npassword_file=turn.password\n' >"$dir/p.conf"
run run --profile "Z:$dir/p.conf" --duration 1 --paths natural --json "Z:$dir/out.json"
assert_eq "the run fails (exit 2): no relay" "$RC" 2
doc=$(cat "$dir/out.json" 2>/dev/null || true)
assert_eq "the result says whether the token is elevated, not a uid" \
	"$(printf '%s' "$doc" | jq -c '.probes[0] | [(.elevated | type), has("uid")]')" '["boolean",false]'
assert_match "could_not_see names the egress facts" \
	"$(printf '%s' "$doc" | jq -r '.probes[0].could_not_see[]')" "^which interface each packet left by: Windows"
assert_match "could_not_see names the received markings" \
	"$(printf '%s' "$doc" | jq -r '.probes[0].could_not_see[]')" "^the DSCP marking of received media"
# Wine 8's INetFwPolicy2 has rules but cannot enumerate them (INetFwRules::_NewEnum,
# LocalPolicyModifyState and CurrentProfileTypes are E_NOTIMPL): the check says so.
assert_eq "the firewall check says Wine's rules cannot be read" \
	"$(printf '%s' "$doc" | jq -r '.checks[] | select(.name == "firewall") | [.verdict, .reason] | join(": ")')" \
	"skip: the firewall's rules cannot be read: INetFwRules::get__NewEnum: Not implemented (0x80004001)"
assert_eq "and why Group Policy's part is unknown" \
	"$(printf '%s' "$doc" | jq -r '.checks[] | select(.name == "firewall") | [.local_policy, .local_policy_why] | join(": ")')" \
	"unknown: INetFwPolicy2::get_LocalPolicyModifyState: Not implemented (0x80004001)"
assert_eq "TURN over TCP: refused, in words" \
	"$(printf '%s' "$doc" | jq -r '.checks[] | select(.name == "turn-tcp") | .reason')" \
	"TCP connect to 127.0.0.1:3478: Connection refused"
assert_summary
