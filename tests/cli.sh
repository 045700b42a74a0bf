#!/usr/bin/env bash
# The iceprobe command line without a network: usage errors and bad profiles
# exit 3 with a message naming what was wrong.
set -u
. "$(dirname "$0")/lab/assert.sh"
ASSERT_NAME=cli
ICEPROBE=${ICEPROBE:?set ICEPROBE to the iceprobe binary}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

run() { # args... -> sets RC and OUT (stdout+stderr)
	OUT=$("$ICEPROBE" "$@" 2>&1)
	RC=$?
}

section "command line"
run --version
assert_eq "--version exits 0" "$RC" 0
run --help
for c in interfaces run report agent; do
	assert_match "--help lists the command $c with what it does" "$OUT" "^  $c +[a-z]"
done
run frobnicate
assert_eq "an unknown command exits 3" "$RC" 3
run run
assert_eq "run without --profile exits 3" "$RC/$OUT" "3/iceprobe run: --profile FILE is required (try 'iceprobe run --help')"
run run --profile "$dir/none.conf"
assert_match "a missing profile exits 3 naming the file" "$RC/$OUT" "^3/iceprobe run: $dir/none.conf: cannot read"
run run --profile "$dir/none.conf" --paths relay-udp,relay-quic
assert_eq "an unknown path exits 3 naming it" "$RC/$OUT" \
	"3/iceprobe run: --paths: 'relay-quic' is not a path (natural, relay-udp, relay-tcp, relay-tls, tunnel-only)"
run run --profile "$dir/none.conf" --paths relay-udp --controller https://x --token-file t --peer p
assert_match "--paths is refused for a paired run" "$RC/$OUT" "^3/iceprobe run: --duration and --paths do not apply"

section "bad profiles"
printf '[profile]\nname=x\n[edge]\nhost=h\nsecret_file=s\n[stream]\nptime=20\n' >"$dir/typo.conf"
echo secret >"$dir/s"
run run --profile "$dir/typo.conf"
assert_eq "an unknown key exits 3 naming file, group and key" "$RC/$OUT" \
	"3/iceprobe run: $dir/typo.conf: [stream] ptime: unknown key"
printf '[profile]\nname=x\n[edge]\nhost=h\nsecret_file=missing.secret\n' >"$dir/nosecret.conf"
run run --profile "$dir/nosecret.conf"
assert_match "a missing secret file exits 3 naming it" "$RC/$OUT" \
	"^3/.*nosecret.conf: \[edge\] secret_file: cannot read '$dir/missing.secret'"
printf '[profile]\nname=x\n[edge]\nhost=h\nsecret_file=s\ntls_ca_file=s\n' >"$dir/badca.conf"
run run --profile "$dir/badca.conf"
assert_match "an unreadable CA exits 3" "$RC/$OUT" "^3/.*\[edge\] tls_ca_file: '$dir/s' holds no PEM certificate"
printf '[profile]\nname=x\n[edge]\nhost=h\nsecret_file=s\n[stream]\ncodec=opus\n' >"$dir/codec.conf"
run run --profile "$dir/codec.conf"
assert_match "an unknown codec exits 3 naming the known ones" "$RC/$OUT" \
	"^3/.*\[stream\] codec: 'opus': unknown codec \(known: g711, g711-noplc, g729a, amr-wb\)"
printf '[profile]\nname=x\n[thresholds]\nmos_min=five\n' >"$dir/type.conf"
run run --profile "$dir/type.conf"
assert_match "a value of the wrong type exits 3" "$RC/$OUT" "^3/.*\[thresholds\] mos_min: 'five' is not a number"
run interfaces --json
assert_eq "interfaces --json is valid JSON with a loopback" \
	"$(printf '%s' "$OUT" | jq -r '.interfaces[] | select(.name == "lo") | .class')" loopback

section "what is Windows' alone"
printf 'cli-test-token-0123456789\n' >"$dir/token"
run agent --service --controller http://127.0.0.1:9 --token-file "$dir/token"
assert_eq "agent --service is refused on Linux, with the usage exit code" "$RC/$OUT" \
	"3/iceprobe agent: --service is for Windows' Service Control Manager; on Linux run the agent without it (systemd: dist/iceprobe-agent.service, docs/agent.md)"
printf 'unit-test-password\n' >"$dir/pw"
printf '[profile]\nname=x\n[edge]\nhost=127.0.0.1\nusername=u\npassword_file=pw\n' >"$dir/lo.conf"
run run --profile "$dir/lo.conf" --duration 1 --paths natural --json "$dir/lo.json"
assert_eq "the firewall check says it is for Windows" \
	"$(jq -r '.checks[] | select(.name == "firewall") | [.verdict, .reason] | join(": ")' "$dir/lo.json")" \
	"skip: for Windows: it reads the Windows Firewall's rules, and this is Linux"
assert_summary
