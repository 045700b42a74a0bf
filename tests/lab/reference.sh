#!/usr/bin/env bash
# iceprobe held to a real WebRTC client. In each configuration, headless
# Chromium (webrtc/client.sh: its own ICE agent, TURN on the lab's edge, every
# interface offered) sets up a call-like audio stream between the same two
# hosts iceprobe tests, and the kernel counts Chromium's packets into the
# laptop's tunnel. The relay loop's configurations pair the laptop (every
# candidate) with an external user at `ext` (relay only, as the relay loop's far
# end); the paired ones, the laptop and the corp host (every candidate each).
# Asserted for each, on an idle tunnel and a busy one: Chromium's media crossed
# the tunnel exactly where the configuration lets it (a known truth, so the
# check can fail), iceprobe fails wherever it crossed, and iceprobe passes only
# where it did not. The side-by-side table (pair chosen, time to the first
# pair) is printed at the end.
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"
. "$(dirname "$0")/webrtc/client.sh"
ICEPROBE=${ICEPROBE:?set ICEPROBE to the iceprobe binary}
ICEPROBE_CONTROLLER=${ICEPROBE_CONTROLLER:?set ICEPROBE_CONTROLLER to the controller binary}
export LAB_STREAM_S=${LAB_STREAM_S:-2}
ASSERT_NAME=reference
ROWS=()

# The iceprobe side: `iceprobe run` in the laptop (relay loop) or a paired run
# of laptop and corp through the controller. Sets DOC.
iceprobe_run() { # NAME loop|paired
	DOC=$LAB_STATE/iceprobe-$1.json
	if [ "$2" = loop ]; then
		lab_exec laptop "$ICEPROBE" run --profile "$LAB_STATE/lab.conf" --json "$DOC" \
			>"$LAB_STATE/iceprobe-$1.txt" 2>&1
	else
		lab_paired laptop corp "$DOC"
	fi
}

# compare NAME loop|paired CROSSES: iceprobe, then Chromium, in the current
# configuration; CROSSES (yes|no) is what the configuration lets media do.
compare() {
	local name=$1$LAB_VARIANT kind=$2 crosses=$3 out peer=ext policy=relay
	section "$name: iceprobe ($kind) beside Chromium"
	iceprobe_run "$name" "$kind"
	[ "$kind" = paired ] && peer=corp policy=all
	out=$LAB_STATE/webrtc-$name.json
	lab_webrtc_call laptop all "$peer" "$policy" "$LAB_STREAM_S" "$out"
	local verdict codes crossed connected
	verdict=$(jq -r '.verdict // "none"' "$DOC")
	codes=$(jq -r '[.findings[].code] | unique | join(",")' "$DOC")
	connected=$(jq -r '.connected' "$out")
	crossed=$(jq -r 'if .crossed then "yes" else "no" end' "$out")
	assert_eq "Chromium's call connected" "$connected" true
	assert_eq "Chromium's media crossed the tunnel: $crosses (the kernel's count of its packets into it)" \
		"$crossed" "$crosses"
	if [ "$crossed" = yes ]; then
		assert_eq "where it crossed, iceprobe fails, naming the tunnel" \
			"$verdict/$(jq -r '[.findings[].code | select(test("TUNNEL"))] | length > 0' "$DOC")" fail/true
	fi
	[ "$verdict" = pass ] && assert_eq "iceprobe passes only where Chromium's media stayed off the tunnel" "$crossed" no
	ROWS+=("$(jq -r --arg name "$name" --arg verdict "$verdict" --arg codes "${codes:--}" --slurpfile d "$DOC" '
		(if .laptop_side == "a" then .a else .b end) as $l |
		($l.pair.local // {}) as $c |
		($d[0].paths // [] | map(select(.name == "natural")) | first // {}) as $n |
		($n.sides.a // $n) as $p |
		[$name, $verdict, $codes,
		 (if $p.selected_pair then "\($p.selected_pair.local.type) \($p.selected_pair.local.transport) \($p.selected_pair.local.egress_interface)" else "none" end),
		 (($p.timing_ms.connected // $p.timing_ms.first_pair // -1) | floor | tostring),
		 (if $l.pair then "\($c.candidateType) \($c.protocol) \(.laptop_iface_by_kernel // "-")" else "none" end),
		 ((.first_pair_ms // -1) | tostring),
		 "\(.laptop_media_via_tunnel_packets)/\(.laptop_media_via_physical_packets)",
		 (if .crossed then "CROSSED" else "no" end)] | @tsv' "$out")")
	[ "$ASSERT_FAILED" = 0 ] || jq -c '{verdict, findings: [.findings[] | .code]}' "$DOC"
}

config_a() { compare a loop no; }
config_b() {
	lab_split edge-in-tunnel
	lab_vpngw_internet nat
	compare b loop yes
	lab_split split
	lab_vpngw_internet block
}
config_m() {
	lab_mark_edge on
	compare m loop yes
	lab_mark_edge off
}
# The gateway lets the pool out: the tunnel's path to the edge is open. libnice
# sends from its tunnel candidate through the tunnel (its sockets are pinned to
# their interface, docs/libnice.md §5) and crosses; Chromium on Linux sends from
# the tunnel's address by the main route, out of eth0, where the home NAT drops
# it: its media stays off the tunnel. iceprobe fails the configuration either
# way (TUNNEL_PATH_OPEN: a client that pins its sockets crosses).
config_g() {
	lab_vpngw_internet nat
	compare g loop no
	assert_eq "iceprobe fails the open configuration all the same: TUNNEL_PATH_OPEN" \
		"$(jq -r '.verdict + " " + ([.findings[].code] | index("TUNNEL_PATH_OPEN") != null | tostring)' "$DOC")" \
		"fail true"
	lab_vpngw_internet block
}
config_good() { compare paired-good paired no; }
config_open() {
	lab_vpngw_policy allow
	compare paired-open paired yes
	lab_vpngw_policy block
}

body() {
	lab_write_profile "$LAB_STATE/lab.conf"
	lab_controller_start
	lab_agent_start laptop laptop vpn-laptops
	lab_agent_start corp corp internal
	lab_idle_and_busy steady config_a config_b config_m config_good config_open
	config_g
	printf '\n%-18s %-8s %-34s %-24s %8s | %-22s %8s %10s %s\n' configuration iceprobe findings \
		"natural pair" "1st ms" "Chromium pair" "1st ms" "gpd0/eth0" crossed
	local r
	for r in "${ROWS[@]}"; do
		# shellcheck disable=SC2086
		IFS=$'\t' read -r n v c p pm cp cm k x <<<"$r"
		printf '%-18s %-8s %-34s %-24s %8s | %-22s %8s %10s %s\n' "$n" "$v" "$c" "$p" "$pm" "$cp" "$cm" "$k" "$x"
	done
	assert_summary
}

lab_run body
