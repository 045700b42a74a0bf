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
# of the laptop and PEER through the controller. Sets DOC.
iceprobe_run() { # NAME loop|paired [PEER]
	DOC=$LAB_STATE/iceprobe-$1.json
	if [ "$2" = loop ]; then
		lab_exec laptop "$ICEPROBE" run --profile "$LAB_STATE/lab.conf" --json "$DOC" \
			>"$LAB_STATE/iceprobe-$1.txt" 2>&1
	else
		lab_paired laptop "${3:-corp}" "$DOC"
	fi
}

# compare NAME loop|paired CROSSES [PEER]: iceprobe, then Chromium, in the
# current configuration; CROSSES (yes|no) is what Chromium's media does there.
# The relay loop's far end is an external user (ext, relay only); a paired
# run's peer (corp by default) offers every candidate, as the laptop does.
compare() {
	local name=$1$LAB_VARIANT kind=$2 crosses=$3 out peer=ext policy=relay
	section "$name: iceprobe ($kind) beside Chromium"
	[ "$kind" = paired ] && peer=${4:-corp} policy=all
	iceprobe_run "$name" "$kind" "$peer"
	out=$LAB_STATE/webrtc-$name.json
	lab_webrtc_call laptop all "$peer" "$policy" "$LAB_STREAM_S" "$out"
	local verdict codes crossed connected
	verdict=$(jq -r '.verdict // "none"' "$DOC")
	codes=$(jq -r '[.findings[].code] | unique | join(",")' "$DOC")
	connected=$(jq -r '.connected' "$out")
	crossed=$(jq -r 'if .crossed then "yes" else "no" end' "$out")
	if [ "$crosses" = nocall ]; then
		assert_eq "Chromium's call could not connect either" "$connected" false
		assert_eq "and iceprobe fails" "$verdict" fail
		crossed=no
	else
		assert_eq "Chromium's call connected" "$connected" true
	fi
	[ "$crosses" = nocall ] ||
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
# UDP to the edge dropped: both clients relay over TURN-TCP (or TLS), on eth0.
config_c() {
	lab_edge_udp block
	compare c loop no
	lab_edge_udp allow
}
# A decrypting middlebox on 443: Chromium refuses its certificate for TURN-TLS
# and relays over UDP; iceprobe fails the configuration (TLS_INTERCEPTED).
config_d() {
	lab_tls_intercept on
	compare d loop no
	lab_tls_intercept off
}
# The tunnel renamed to what no pattern matches, and the edge routed into it.
config_e() {
	lab_rename_tunnel corpvpn3
	lab_split edge-in-tunnel
	lab_vpngw_internet nat
	compare e loop yes
	lab_split split
	lab_vpngw_internet block
	lab_rename_tunnel gpd0
}
config_good() { compare paired-good paired no; }
# The gateway blocks the pool's UDP only. libnice's ICE-TCP host candidates
# connect through the tunnel (iceprobe: MEDIA_VIA_TUNNEL over TCP); Chromium
# offers active TCP candidates only, which cannot connect to each other, and
# relays on eth0. iceprobe fails the configuration either way.
config_udp_only() {
	lab_vpngw_policy udp-only
	compare paired-udp-only paired no
	assert_eq "iceprobe fails it all the same: TUNNEL_PATH_OPEN" \
		"$(jq -r '.verdict + " " + ([.findings[].code] | index("TUNNEL_PATH_OPEN") != null | tostring)' "$DOC")" \
		"fail true"
	lab_vpngw_policy block
}
# The edge refuses the credentials (a wrong secret on both clients' side): no
# relay for either, and the external user offers nothing else.
config_secret() {
	echo wrong-secret >"$LAB_STATE/wrong.secret"
	cp "$LAB_STATE/lab.conf" "$LAB_STATE/good.conf"
	sed -i "s|^secret_file = .*|secret_file = $LAB_STATE/wrong.secret|" "$LAB_STATE/lab.conf"
	WEBRTC_SECRET_FILE=$LAB_STATE/wrong.secret WEBRTC_CONNECT_MS=5000 compare secret loop nocall
	cp "$LAB_STATE/good.conf" "$LAB_STATE/lab.conf"
}
# The edge down: nothing to relay through.
config_f() {
	lab_edge_down KILL
	WEBRTC_CONNECT_MS=5000 compare f loop nocall
	lab_start_edge
}
# Two VPN laptops, VPN-to-VPN allowed: the media hair-pins through the gateway.
config_hairpin() {
	lab_vpngw_policy vpn-to-vpn
	compare paired-hairpin paired yes laptop2
	lab_vpngw_policy block
}
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
	lab_agent_start laptop2 laptop2 vpn-laptops
	lab_idle_and_busy steady config_a config_b config_m config_good config_open
	lab_idle_and_busy bursty config_e config_udp_only config_hairpin
	lab_idle_and_busy steady config_g config_c config_d config_secret config_f
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
