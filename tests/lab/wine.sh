#!/usr/bin/env bash
# iceprobe.exe in the lab, under Wine: `iceprobe.exe run` in the VPN laptop's
# namespace against the lab's coturn (a good configuration and the edge routed
# into the tunnel), and a paired run of a Windows agent (iceprobe.exe agent,
# under Wine, on the laptop) and a Linux agent (the corp host) through the real
# controller. Wine shows the Linux tun as IF_TYPE_OTHER with no tunnel facts:
# the profile's name pattern is what finds it here (test_winadapter covers the
# real adapters' facts).
# Usage: wine.sh WINE_RUN ICEPROBE_EXE LINUX_BUILD
#   WINE_RUN: tools/windows/wine-run.sh; LINUX_BUILD: the Linux build directory
#   with the controller, the Linux agent and the lab's tools (./run test builds
#   it first).
# Each lab has its own Wine prefix in its state directory, so its wineserver
# (which makes the sockets of the Wine processes it serves) is started inside the
# lab's namespace, never the host's.
set -u
WINE_RUN=${1:?usage: wine.sh WINE_RUN ICEPROBE_EXE LINUX_BUILD}
EXE=${2:?usage: wine.sh WINE_RUN ICEPROBE_EXE LINUX_BUILD}
LINUX_BUILD=${3:?usage: wine.sh WINE_RUN ICEPROBE_EXE LINUX_BUILD}
here=$(cd "$(dirname "$0")" && pwd)
lab_tool() { printf '%s/tests/lab/iceprobe-%s' "$LINUX_BUILD" "$1"; }
export ICEPROBE=$LINUX_BUILD/probe/iceprobe
export ICEPROBE_CONTROLLER=$LINUX_BUILD/controller/iceprobe-controller
export ICEPROBE_SOURCE_ROOT=${ICEPROBE_SOURCE_ROOT:-$(cd "$here/../.." && pwd)}
export ICEPROBE_SANITIZE=none
export ICEPROBE_ARTIFACTS=${ICEPROBE_ARTIFACTS:-$LINUX_BUILD/meson-logs}
export ICEPROBE_IMPAIR=$(lab_tool impair) ICEPROBE_STAMP=$(lab_tool stamp) ICEPROBE_TRUTH=$(lab_tool truth)
export ICEPROBE_CHATTER=$(lab_tool chatter) ICEPROBE_RENDEZVOUS=$(lab_tool rendezvous)
export ICEPROBE_MSTURN=$(lab_tool msturn) ICEPROBE_MSTURN_CLIENT=$(lab_tool msturn-client)
export ICEPROBE_MSTURN_LUA=$here/msturn-tcp.lua
export LAB_STREAM_S=${LAB_STREAM_S:-2}
ASSERT_NAME=wine
. "$here/lab.sh"
. "$here/assert.sh"

# What it needs, or it cannot set up: a failure under CI, a skip (77) elsewhere.
cannot() {
	if [ "${CI:-}" = true ]; then
		printf 'lab: FAIL: cannot set up the lab: %s\n' "$*" >&2
		exit 1
	fi
	printf 'lab: SKIP: cannot set up the lab: %s\n' "$*" >&2
	exit 77
}
for f in "$ICEPROBE" "$ICEPROBE_CONTROLLER" "$ICEPROBE_IMPAIR" "$EXE"; do
	[ -x "$f" ] || cannot "$f is missing (./run build, then ./run windows)"
done
command -v wine >/dev/null || cannot "wine is not installed (./run installs it)"

wine_in() { # NODE ARGS...: iceprobe.exe ARGS in NODE, under the lab's own prefix
	local node=$1
	shift
	lab_exec "$node" "$WINE_RUN" "$LAB_STATE/wine" "$EXE" "$@"
}

q() { jq -r "$1" "$LAB_STATE/$DOC.json"; }
codes() { q '[.findings[].code] | unique | join(",")'; }
has_code() { q "[.findings[].code] | index(\"$1\") != null"; }
show_on_failure() { [ "$ASSERT_FAILED" = 0 ] || sed 's/^/    | /' "$LAB_STATE/$DOC.txt"; }

probe() { # NAME: iceprobe.exe run in the laptop; RC, $NAME.json, $NAME.txt
	DOC=$1
	local t0
	t0=$(date +%s%N)
	wine_in laptop run --profile "$LAB_STATE/lab.conf" --json "$LAB_STATE/$DOC.json" >"$LAB_STATE/$DOC.txt" 2>&1
	RC=$?
	[ -s "$LAB_STATE/$DOC.json" ] || echo '{}' >"$LAB_STATE/$DOC.json"
	printf '  (%s: iceprobe.exe exit %s in %s ms)\n' "$DOC" "$RC" $((($(date +%s%N) - t0) / 1000000))
}

body() {
	lab_write_profile "$LAB_STATE/lab.conf"
	section "iceprobe.exe under Wine in the laptop's namespace"
	# The prefix is made here, inside the namespace (wineboot: 8-20 s).
	assert_match "iceprobe.exe --version" "$(wine_in laptop --version 2>&1)" '^iceprobe '
	wine_in laptop interfaces --json >"$LAB_STATE/ifaces.json" 2>"$LAB_STATE/ifaces.err"
	assert_eq "GetAdaptersAddresses lists the namespace's interfaces (lo, eth0, the tunnel)" \
		"$(jq -r '[.interfaces[].name] | sort | join(" ")' "$LAB_STATE/ifaces.json")" "$(printf '%s\n' eth0 "$LAB_TUNNEL_IF" lo | sort | tr '\n' ' ' | sed 's/ $//')"
	assert_eq "eth0 is physical, with its lab address" \
		"$(jq -r '.interfaces[] | select(.name == "eth0") | "\(.class) \(.addresses | join(","))"' "$LAB_STATE/ifaces.json")" \
		"physical $LAB_LAPTOP_LAN/24"

	section "a. split tunnel right, VPN pool blocked (iceprobe.exe run)"
	probe a
	assert_eq "verdict pass, exit 0" "$(q .verdict)/$RC" pass/0
	assert_eq "the tunnel is found by the profile's name pattern (Wine shows a tun as IF_TYPE_OTHER)" \
		"$(q ".probes[0].interfaces[] | select(.name == \"$LAB_TUNNEL_IF\") | .class")" tunnel
	assert_eq "TURN allocates over UDP, TCP and TLS against the lab's coturn" \
		"$(q '[.checks[] | select(.name | startswith("turn-")) | "\(.name)=\(.verdict)"] | join(" ")')" \
		"turn-udp=pass turn-tcp=pass turn-tls=pass"
	assert_eq "the edge's certificate is pinned and verified through the Windows code path" \
		"$(q '.checks[] | select(.name == "tls-pin") | .verdict')" pass
	assert_eq "natural's selected pair leaves by eth0 (physical)" \
		"$(q '.paths[] | select(.name == "natural") | "\(.selected_pair.local.interface // .selected_pair.local.egress_interface) \(.selected_pair.local.egress_class)"')" \
		"eth0 physical"
	assert_eq "the relay paths pass, their streams under 2 % loss" \
		"$(q '[.paths[] | select(.name | startswith("relay-")) | "\(.name)=\(.verdict)/\(.metrics.directions.in.loss_ratio < 0.02)"] | join(" ")')" \
		"relay-udp=pass/true relay-tcp=pass/true relay-tls=pass/true"
	assert_gt "the relay-udp stream's packets were counted" \
		"$(q '.paths[] | select(.name == "relay-udp") | .metrics.directions.out.packets_sent')" 50
	assert_eq "tunnel-only finds no working pair (the block holds)" \
		"$(q '.paths[] | select(.name == "tunnel-only") | .selected_pair')" null
	assert_match "what Windows cannot show yet is said, not guessed (which interface each packet left by)" \
		"$(q '.probes[0].could_not_see | join(" | ")')" 'which interface each packet left by'
	show_on_failure

	section "b. the edge routed into the tunnel, the gateway NATs the pool (iceprobe.exe run)"
	lab_split edge-in-tunnel
	lab_vpngw_internet nat
	probe b
	assert_eq "verdict fail, exit 2" "$(q .verdict)/$RC" fail/2
	assert_eq "RELAY_VIA_TUNNEL is found" "$(has_code RELAY_VIA_TUNNEL)" true
	assert_eq "the route check names the tunnel (GetBestRoute2)" \
		"$(q '.checks[] | select(.name == "route") | .routes[0].interface')" "$LAB_TUNNEL_IF"
	assert_gt "the tunnel's counters (GetIfEntry2) moved with natural's stream" \
		"$(q '.paths[] | select(.name == "natural") | .tunnel_counters.tx_packets')" 50
	assert_eq "relay-tcp and relay-tls: Wine counts their connections neither way (EStats, SIO_TCP_INFO), so no figures, never zeros" \
		"$(q '[.paths[] | select(.name == "relay-tcp" or .name == "relay-tls") | .tunnel_counters == null] | "\(length) \(all)"')" "2 true"
	show_on_failure
	lab_split split
	lab_vpngw_internet block

	section "a paired run: a Windows agent (Wine) on the laptop and a Linux agent on the corp host"
	lab_controller_start
	lab_agent_start corp corp internal
	local d=$LAB_STATE/agent-winlaptop i
	mkdir -p "$d"
	"$ICEPROBE_CONTROLLER" agent-add --config "$LAB_STATE/ctl/controller.conf" --name winlaptop \
		--group vpn-laptops 2>>"$LAB_STATE/agent-add.log" | tail -n1 >"$d/token" ||
		lab_die "agent-add winlaptop failed: $(cat "$LAB_STATE/agent-add.log")"
	lab_spawn laptop agent-winlaptop "$WINE_RUN" "$LAB_STATE/wine" "$EXE" agent --controller "$LAB_CTL_URL" \
		--token-file "$d/token" --ca-file "$LAB_STATE/ctl/ca.pem" --spool "$d/spool"
	for i in $(seq 300); do
		lab_api GET /api/v1/agents | jq -e '.agents[] | select(.name == "winlaptop" and .last_seen != null)' \
			>/dev/null 2>&1 && break
		sleep 0.1
	done
	assert_match "the Windows agent is heard by the controller, over HTTPS with the lab's CA" \
		"$(lab_api GET /api/v1/agents | jq -r '.agents[] | select(.name == "winlaptop") | .last_seen // "never"')" '^[0-9]'
	DOC=paired
	lab_paired winlaptop corp "$LAB_STATE/paired.json"
	printf '  (paired: run %s, %s, %s s start to verdict)\n' "$RUN_ID" "$(q .verdict)" "$RUN_SECONDS"
	assert_eq "the run is done, verdict pass" "$(q .state)/$(q .verdict)" done/pass
	assert_eq "both sides reported every path" \
		"$(q '[.paths[] | (.sides.a != null and .sides.b != null)] | all')" true
	assert_eq "the Windows side's natural pair leaves by eth0, never the tunnel" \
		"$(q '.paths[] | select(.name == "natural") | .sides.a.selected_pair.local.egress_class')" physical
	assert_eq "the Windows agent's report was acknowledged" \
		"$(grep -c "report of run $RUN_ID acknowledged" "$LAB_STATE/agent-winlaptop.log")" 1
	[ "$ASSERT_FAILED" = 0 ] || sed 's/^/    | /' "$LAB_STATE/agent-winlaptop.log" | tail -40
	assert_summary
}

lab_run body
