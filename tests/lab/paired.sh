#!/usr/bin/env bash
# Paired runs through the controller, as a user meets them: the controller in
# its own namespace, agents (unprivileged) on the VPN laptop and the corp host,
# each run started through the admin API and judged from the stored result.
# Each scenario runs on an idle tunnel, then again with other traffic through
# the VPN laptops' tunnels (lab_busy), with the same assertions.
# Usage: paired.sh GROUP   (basic: good, block missing, UDP-only block;
#                          vpn: two VPN laptops, the VPN DNS view wrong, a TLS-decrypting middlebox;
#                          branch: the edge without its route to a branch subnet (seed 003);
#                          schedule: a one-minute cron schedule runs the matrix by itself; a laptop
#                          asleep over a firing is tested when it is back (catch_up_s); a VPN that
#                          comes up under a running agent starts its run (on = vpn-up); a flapping one
#                          starts one run)
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"
. "$(dirname "$0")/chromium.sh"
ICEPROBE=${ICEPROBE:?set ICEPROBE to the iceprobe binary}
ICEPROBE_CONTROLLER=${ICEPROBE_CONTROLLER:?set ICEPROBE_CONTROLLER to the controller binary}
GROUP=${1:-basic}
export LAB_STREAM_S=${LAB_STREAM_S:-2}
ASSERT_NAME=paired-$GROUP

q() { jq -r "$1" "$LAB_STATE/$DOC.json"; }
codes() { q '[.findings[].code] | unique | join(",")'; }
has_code() { q "[.findings[].code] | index(\"$1\") != null"; }
side() { q ".paths[] | select(.name == \"$1\") | .sides.$2.selected_pair.local.$3 // \"none\""; }
# run DOC A B: a paired run of agents A and B, its document in $DOC.json. On a
# busy tunnel (lab_idle_and_busy) it also shows each VPN side's tunnel was busy
# during natural's stream: its counters exceed what that side's stream sent.
run() {
	DOC=$1$LAB_VARIANT
	lab_paired "$2" "$3" "$LAB_STATE/$DOC.json"
	printf '  (%s: run %s, %s, %s s start to verdict)\n' "$DOC" "$RUN_ID" "$(q .verdict)" "$RUN_SECONDS"
	printf '  pairs: %s %s natural a %s, b %s; %s s start to verdict\n' "$DOC" "${LAB_DIALECT:-rfc8445}" \
		"$(side natural a type)/$(side natural a transport)/$(side natural a egress_class)" \
		"$(side natural b type)/$(side natural b transport)/$(side natural b egress_class)" "$RUN_SECONDS"
	local side
	if [ -n "$LAB_VARIANT" ] && [ -f "$LAB_STATE/$1.json" ]; then
		# RUN_RACY_CODES: codes that follow an ICE race both runs may settle
		# differently (a regex), left out of the comparison.
		local want sum='"\(.verdict) \([.findings[] | select(.code | test($racy) | not) | "\(.code)/\(.evidence.side // "-")"] | unique | join(","))"'
		want=$(jq -r --arg racy "${RUN_RACY_CODES:-^$}" "$sum" "$LAB_STATE/$1.json")
		assert_eq "the same verdict and findings (code/side) as on the idle tunnel" \
			"$(jq -r --arg racy "${RUN_RACY_CODES:-^$}" "$sum" "$LAB_STATE/$DOC.json")" "$want"
	fi
	[ "$LAB_BUSY" != off ] || return 0
	for side in a b; do
		case $( [ $side = a ] && echo "$2" || echo "$3") in laptop | laptop2) ;; *) continue ;; esac
		[ "$(q ".paths[] | select(.name == \"natural\") | .sides.$side.tunnel_counters.source // \"none\"")" = interface ] || continue
		assert_gt "side $side's tunnel was busy: it counted more packets out during natural's stream than the stream sent" \
			"$(q ".paths[] | select(.name == \"natural\") | .sides.$side.tunnel_counters.tx_packets")" \
			"$(q ".paths[] | select(.name == \"natural\") | .sides.$side.tunnel_counters.egress.media_sent // 1000000")"
	done
}
# The interface and class of side SIDE's host candidates on PATH at ADDRESS (IPv6, no port).
host_class() {
	q "[.paths[] | select(.name == \"$1\") | .sides.$2.ice.candidates.local[] | select(.type == \"host\") |
		select(.address | startswith(\"[$3]:\")) | \"\(.interface)/\(.interface_class)\"] | unique | join(\",\")"
}
# With IPv6 on (lab_ipv6): the laptop's (side a's) IPv6 host candidates,
# classified from the kernel's facts as its IPv4 ones are.
assert_ipv6_facts() {
	[ "$LAB_IPV6" != off ] || return 0
	assert_eq "side a's IPv6 host candidates were gathered on eth0 and classified physical" \
		"$(host_class natural a "$LAB6_LAPTOP_LAN")" eth0/physical
	[ "$LAB_IPV6" = home+vpn ] || return 0
	assert_eq "its tunnel's IPv6 host candidate is classified tunnel" \
		"$(host_class natural a "$LAB6_LAPTOP_VPN")" gpd0/tunnel
	assert_eq "tunnel-only: side a offered its tunnel's addresses in both families" \
		"$(q '[.paths[] | select(.name == "tunnel-only") | .sides.a.ice.candidates.local[] | select(.type == "host") | .address | sub(":[0-9]+$"; "")] | unique | join(" ")')" \
		"$LAB_LAPTOP_VPN [$LAB6_LAPTOP_VPN]"
}
show_on_failure() {
	[ "$ASSERT_FAILED" = 0 ] && return
	jq -c '{verdict, state, note, error, findings: [.findings[] | {code, message}],
		paths: [.paths[] | {name, verdict, reason, a: .sides.a.reason, b: .sides.b.reason}]}' \
		"$LAB_STATE/$DOC.json" | head -c 4000
	echo
	tail -n 15 "$LAB_STATE/agent-laptop.log" "$LAB_STATE/agent-corp.log" | sed 's/^/    | /'
}

scenario_good() {
	section "good configuration: laptop and corp host"
	run good laptop corp
	assert_eq "the run ends done, verdict pass" "$(q .state)/$(q .verdict)" "done/pass"
	assert_eq "no findings" "$(codes)" ""
	assert_match "natural: the laptop's media is relay or physical" "$(side natural a interface_class)/$(side natural a egress_class)" '^(physical)/physical$'
	assert_eq "natural: the corp host's media leaves a physical interface" "$(side natural b egress_class)" physical
	assert_eq "relay: both sides allocate on the edge" "$(side relay a type)/$(side relay b type)" relay/relay
	assert_eq "tunnel-only: blocked, no pair" "$(q '.paths[] | select(.name == "tunnel-only") | .selected_pair')" null
	assert_eq "the kernel named a device for the laptop's media on natural and relay, never the tunnel" \
		"$(q '[.paths[] | select(.name == "natural" or .name == "relay") | .sides.a.tunnel_counters.egress | .media_sent > 50 and .media_seen >= .media_sent * 0.9 and .media_tunnel == 0] | "\(length) \(all)"')" \
		"2 true"
	assert_gt "natural: the stream arrived both ways (packets received a to b)" \
		"$(q '.paths[] | select(.name == "natural") | .sides.b.metrics.directions.in.packets_received')" 50
	assert_gt "natural: and b to a" \
		"$(q '.paths[] | select(.name == "natural") | .sides.a.metrics.directions.in.packets_received')" 50
	assert_lt "the paths ran at once: start to verdict took less than side a's paths' times together (ms)" \
		"$(echo "$RUN_SECONDS * 1000 / 1" | bc)" "$(q '[.paths[].sides.a.timing_ms.total // 0] | add | floor')"
	assert_eq "both agents are in probes[]" "$(q '[.probes[].agent] | sort | join(",")')" "corp,laptop"
	assert_eq "both ran unprivileged (nobody) and say nothing was hidden from them" \
		"$(q '[.probes[] | "\(.user):\(.could_not_see | length)"] | unique | join(",")')" "nobody:0"
	assert_ipv6_facts
	show_on_failure
}

# The fallback of a side whose kernel cannot name a packet's device (before
# Linux 4.6; ICEPROBE_EGRESS=off, as the relay loop's scenario_old_kernel): its
# hello says so, and both sides run the paths one after another, each judged
# by the tunnel's counters over its own stream alone. An idle tunnel only: a
# busy one's counters are the fallback's known blind spot (docs/libnice.md §33).
scenario_old_kernel() {
	section "the laptop on a kernel without egress facts: the paths one after another, on both sides"
	lab_stop agent-laptop
	LAB_AGENT_ENV=(ICEPROBE_EGRESS=off)
	lab_agent_start laptop laptop vpn-laptops
	LAB_AGENT_ENV=()
	run good-old-kernel laptop corp
	assert_eq "the run ends done, verdict pass, no findings" "$(q .state)/$(q .verdict)/$(codes)" "done/pass/"
	assert_match "the laptop ran its paths one after another" "$(cat "$LAB_STATE/agent-laptop.log")" \
		"run $RUN_ID: [0-9]+ paths one after another"
	assert_match "and so did the corp host, told by the laptop's hello" "$(cat "$LAB_STATE/agent-corp.log")" \
		"run $RUN_ID: [0-9]+ paths one after another"
	assert_eq "natural: the laptop's evidence is the tunnel's counters, no egress facts" \
		"$(q '.paths[] | select(.name == "natural") | .sides.a | "\(.tunnel_counters.source) \(.tunnel_counters.egress != null)"')" \
		"interface false"
	assert_gt "the paths ran one after another: start to verdict took longer than side a's paths' times together (ms)" \
		"$(echo "$RUN_SECONDS * 1000 / 1" | bc)" "$(q '[.paths[].sides.a.timing_ms.total // 0] | add | floor')"
	show_on_failure
	lab_stop agent-laptop
	lab_agent_start laptop laptop vpn-laptops
}

scenario_cli_peer() {
	section "iceprobe run --peer: the same from the command line, on the laptop"
	local d=$LAB_STATE/cli t0
	mkdir -p "$d"
	"$ICEPROBE_CONTROLLER" agent-add --config "$LAB_STATE/ctl/controller.conf" --name laptop-cli \
		--group vpn-laptops 2>/dev/null | tail -n1 >"$d/token"
	chown -R nobody "$d"
	t0=$(date +%s%N)
	lab_exec laptop setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$d" \
		"$LAB_ICEPROBE_NOBODY" run --profile "$LAB_STATE/ctl/profiles/lab.conf" --controller "$LAB_CTL_URL" \
		--token-file "$d/token" --ca-file "$LAB_STATE/ctl/ca.pem" --peer corp \
		--json "$d/run.json" >"$d/out.txt" 2>"$d/err.txt"
	local rc=$?
	printf '  (iceprobe run --peer: exit %s in %s s)\n' "$rc" "$(echo "scale=1; ($(date +%s%N) - $t0) / 1000000000" | bc)"
	assert_eq "exit 0 (pass) on the good configuration" "$rc" 0
	assert_match "the report names both sides" "$(cat "$d/out.txt")" 'side a: agent laptop-cli, side b: agent corp'
	assert_match "and shows each side's natural pair" "$(cat "$d/out.txt")" 'natural b .*eth0 \(physical\)'
	assert_eq "--json writes the controller's document" "$(jq -r .state "$d/run.json")" done
	lab_exec laptop "$ICEPROBE" run --profile "$LAB_STATE/ctl/profiles/lab.conf" --controller "$LAB_CTL_URL" \
		--token-file "$d/token" --ca-file "$LAB_STATE/ctl/ca.pem" --peer ghost >/dev/null 2>"$d/ghost.txt"
	assert_eq "an unknown peer is an error (exit 3)" "$?" 3
	assert_match "naming it" "$(cat "$d/ghost.txt")" "ghost"
	[ "$ASSERT_FAILED" = 0 ] || sed 's/^/    | /' "$d/out.txt" "$d/err.txt"
}

scenario_block_missing() {
	section "the VPN block missing: VPN pool and corp allowed"
	lab_vpngw_policy allow
	run open laptop corp
	assert_eq "verdict fail" "$(q .verdict)" fail
	assert_eq "MEDIA_VIA_TUNNEL" "$(has_code MEDIA_VIA_TUNNEL)" true
	assert_eq "TUNNEL_PATH_OPEN" "$(has_code TUNNEL_PATH_OPEN)" true
	assert_eq "natural: the laptop's pair is host on the tunnel" "$(side natural a type)/$(side natural a interface_class)" host/tunnel
	assert_eq "and the kernel sent the laptop's media through it" \
		"$(q '.paths[] | select(.name == "natural") | .sides.a.tunnel_counters.egress | .media_sent > 50 and .media_tunnel >= .media_sent * 0.9')" true
	assert_eq "the finding names side a, the laptop" \
		"$(q '[.findings[] | select(.code == "MEDIA_VIA_TUNNEL") | .evidence.agent] | unique | join(",")')" laptop
	# The attribution stays exact with the paths at once: in the same run, beside
	# natural's media in the tunnel, relay's left by eth0, packet by packet.
	assert_eq "beside it, at the same time, the kernel sent none of relay's media into the tunnel" \
		"$(q '.paths[] | select(.name == "relay") | .sides.a.tunnel_counters.egress | .media_sent > 50 and .media_seen >= .media_sent * 0.9 and .media_tunnel == 0')" true
	assert_eq "relay: no tunnel finding on its path" \
		"$(q '[.findings[] | select(.evidence.path == "relay" and (.code | test("TUNNEL")))] | length')" 0
	assert_lt "the paths ran at once: start to verdict took less than side a's paths' times together (ms)" \
		"$(echo "$RUN_SECONDS * 1000 / 1" | bc)" "$(q '[.paths[].sides.a.timing_ms.total // 0] | add | floor')"
	show_on_failure
	lab_vpngw_policy block
}

scenario_ipv6_forgotten() {
	section "the gateway's block forgets the corp's IPv6 range (written when the tunnel carried IPv4 only)"
	lab_vpngw_policy ipv4-only
	run ipv6-forgotten laptop corp
	assert_eq "verdict fail, TUNNEL_PATH_OPEN" "$(q .verdict)/$(has_code TUNNEL_PATH_OPEN)" fail/true
	assert_match "tunnel-only connected over IPv6: the tunnel's IPv6 host candidate to the corp host's" \
		"$(side tunnel-only a address) -> $(q '.paths[] | select(.name == "tunnel-only") | .sides.a.selected_pair.remote.address')" \
		"^\\[$LAB6_LAPTOP_VPN\\]:[0-9]+ -> \\[$LAB6_CORP\\]:[0-9]+$"
	assert_eq "natural: the laptop's pair is host on the tunnel, in IPv6, and MEDIA_VIA_TUNNEL says so" \
		"$(side natural a type)/$(side natural a interface_class)/$(side natural a address | cut -c1)/$(has_code MEDIA_VIA_TUNNEL)" \
		"host/tunnel/[/true"
	assert_eq "and the kernel named the device of its IPv6 media: the tunnel" \
		"$(q '.paths[] | select(.name == "natural") | .sides.a.tunnel_counters.egress | .media_sent > 50 and .media_seen >= .media_sent * 0.9 and .media_tunnel >= .media_sent * 0.9')" true
	show_on_failure
	lab_vpngw_policy block
}

scenario_udp_only() {
	section "a UDP-only block at the gateway (TCP from the VPN pool allowed)"
	lab_vpngw_policy udp-only
	# natural races two paths that both work: ICE-TCP host candidates through
	# the tunnel, and the laptop's reflexive UDP address through the internet
	# (the corp host reaches it through the gateway's NAT); which one the ICE
	# agents nominate first is timing. What the block lets through is shown by
	# tunnel-only, every time; natural's finding follows the pair it got.
	RUN_RACY_CODES=MEDIA_VIA_TUNNEL run udponly laptop corp
	assert_eq "verdict fail" "$(q .verdict)" fail
	assert_eq "TUNNEL_PATH_OPEN (over TCP)" \
		"$(has_code TUNNEL_PATH_OPEN)/$(side tunnel-only a transport)/$(side tunnel-only a interface_class)" true/tcp/tunnel
	local pair
	pair=$(side natural a type)/$(side natural a transport)/$(side natural a interface_class)
	printf '  (natural: the laptop got %s)\n' "$pair"
	if [ "$(side natural a interface_class)" = tunnel ]; then
		# An active ICE-TCP candidate's connection can come back as a peer-reflexive
		# local candidate (its real source port): the same socket on the tunnel.
		assert_match "natural: a pair on the tunnel is an ICE-TCP candidate (host, or its peer-reflexive twin)" \
			"$pair" '^(host|prflx)/tcp/tunnel$'
		assert_eq "and MEDIA_VIA_TUNNEL says so" "$(has_code MEDIA_VIA_TUNNEL)" true
		# The kernel names the device of UDP packets only: beside the other paths,
		# natural's ICE-TCP media could not be told from theirs, so both sides ran
		# it again alone (`reruns`), and the verdict is that run's.
		assert_eq "natural ran again alone, on both sides" \
			"$(q '[.paths[] | select(.name == "natural") | .sides[].reason | test("run again alone")] | "\(length) \(all)"')" \
			"2 true"
	else
		assert_eq "natural: a pair off the tunnel, and no MEDIA_VIA_TUNNEL" \
			"$(side natural a egress_class)/$(has_code MEDIA_VIA_TUNNEL)" physical/false
	fi
	show_on_failure
	lab_vpngw_policy block
}

scenario_hairpin() {
	section "two VPN laptops, VPN-to-VPN allowed at the gateway"
	lab_vpngw_policy vpn-to-vpn
	if [ "$LAB_IPV6" != off ]; then
		hairpin_ipv6
		return
	fi
	run hairpin laptop laptop2
	assert_eq "verdict fail" "$(q .verdict)" fail
	assert_eq "MEDIA_VIA_TUNNEL on both sides" \
		"$(q '[.findings[] | select(.code == "MEDIA_VIA_TUNNEL") | .evidence.side] | sort | join(",")')" a,b
	assert_eq "with hair-pin evidence" \
		"$(q '[.findings[] | select(.code == "MEDIA_VIA_TUNNEL") | .evidence.hairpin] | all')" true
	assert_match "the message says it hair-pins through the gateway" \
		"$(q '.findings[] | select(.code == "MEDIA_VIA_TUNNEL") | .message')" 'hair-pins through the VPN gateway'
	assert_eq "natural: both pairs are host on the tunnel" \
		"$(side natural a interface_class)/$(side natural b interface_class)" tunnel/tunnel
	show_on_failure
	lab_vpngw_policy block
	run hairpin-blocked laptop laptop2
	assert_eq "with VPN-to-VPN blocked, the same pair passes through the edge" \
		"$(q .verdict)/$(side natural a interface_class)/$(side natural b interface_class)" pass/physical/physical
	show_on_failure
}

# With IPv6 at both homes the laptops also reach each other directly, host to
# host between the homes, a pair of the same type as the tunnels' (IPv4's other
# way, srflx, ranks far lower). Each side reports the pair its own agent
# selected, and within a 2 s stream the two can end on different ones: one side's
# media hair-pins through the tunnels while the other's goes direct (seen in
# one run of two), or both go direct (seen in CI). Whoever's pair is on its
# tunnel has MEDIA_VIA_TUNNEL, and it is a hair-pin only when both are;
# tunnel-only connects either way, so the configuration fails all the same.
hairpin_ipv6() {
	RUN_RACY_CODES=MEDIA_VIA_TUNNEL run hairpin laptop laptop2
	local a b on="" s
	a=$(side natural a interface_class)
	b=$(side natural b interface_class)
	printf '  (natural: side a %s, side b %s)\n' "$a" "$b"
	[ "$a" = tunnel ] && on=a
	[ "$b" = tunnel ] && on=${on:+$on,}b
	assert_eq "verdict fail, TUNNEL_PATH_OPEN" "$(q .verdict)/$(has_code TUNNEL_PATH_OPEN)" fail/true
	assert_eq "MEDIA_VIA_TUNNEL names each side whose pair is on its tunnel (none when both went direct)" \
		"$(q '[.findings[] | select(.code == "MEDIA_VIA_TUNNEL") | .evidence.side] | sort | join(",")')" "$on"
	for s in a b; do
		[ "$(side natural $s interface_class)" = tunnel ] ||
			assert_eq "side $s's pair off its tunnel is its eth0's" "$(side natural $s egress_interface)" eth0
	done
	assert_eq "hair-pin evidence exactly when both pairs are on the tunnels" \
		"$(q '[.findings[] | select(.code == "MEDIA_VIA_TUNNEL") | .evidence.hairpin // false] | any')" \
		"$([ "$on" = a,b ] && echo true || echo false)"
	show_on_failure
	lab_vpngw_policy block
	run hairpin-blocked laptop laptop2
	assert_eq "with VPN-to-VPN blocked, the same pair passes, off the tunnels" \
		"$(q .verdict)/$(side natural a interface_class)/$(side natural b interface_class)" pass/physical/physical
	show_on_failure
}

scenario_dns_internal() {
	section "the VPN DNS view answers the edge's internal address"
	lab_dns_vpn_view internal
	run dns laptop corp
	assert_eq "EDGE_DNS_INTERNAL from the laptop's side" \
		"$(q '[.findings[] | select(.code == "EDGE_DNS_INTERNAL") | .evidence.agent] | join(",")')" laptop
	assert_eq "verdict fail" "$(q .verdict)" fail
	show_on_failure
	lab_dns_vpn_view right
}

scenario_tls_intercept() {
	section "a TLS-decrypting middlebox on 443 in front of the edge (the laptop's home)"
	lab_tls_intercept on
	run mitm laptop corp
	assert_eq "TLS_INTERCEPTED from the laptop's side" \
		"$(q '[.findings[] | select(.code == "TLS_INTERCEPTED") | .evidence.agent] | join(",")')" laptop
	assert_eq "verdict fail" "$(q .verdict)" fail
	show_on_failure
	lab_tls_intercept off
}

scenario_schedule() {
	section "a cron schedule with a one-minute period runs the matrix by itself"
	local i n=0
	for i in $(seq 170); do
		n=$(lab_api GET "/api/v1/runs?limit=50" | jq '[.runs[] | select(.schedule == "minutely" and (.state == "done" or .state == "error"))] | length')
		[ "${n:-0}" -ge 2 ] && break
		sleep 1
	done
	assert_gt "two scheduled runs have ended within about two minutes" "${n:-0}" 1
	local runs
	runs=$(lab_api GET "/api/v1/runs?limit=50" | jq -c '[.runs[] | select(.schedule == "minutely")]')
	assert_eq "each of the matrix's pair (laptop, corp)" \
		"$(printf '%s' "$runs" | jq -r '[.[] | "\(.agents.a)-\(.agents.b)"] | unique | join(",")')" laptop-corp
	assert_eq "and they passed" \
		"$(printf '%s' "$runs" | jq -r '[.[] | select(.state == "done") | .verdict] | unique | join(",")')" pass
	assert_match "the status page shows the profile's history" \
		"$(lab_exec ctl curl -s --cacert "$LAB_STATE/ctl/ca.pem" "$LAB_CTL_URL/")" 'laptop.*corp'
}

# api_run ID: the run's document into $LAB_STATE/$DOC.json (DOC set by the caller).
api_run() { lab_api GET "/api/v1/runs/$1" >"$LAB_STATE/$DOC.json"; }
# wait_run_end ID SECONDS: until the run is done or error.
wait_run_end() {
	local i
	for i in $(seq $(($2 * 2))); do
		api_run "$1"
		case $(q .state) in done | error) return 0 ;; esac
		sleep 0.5
	done
	return 1
}

scenario_catch_up() {
	section "a laptop asleep over a firing: the scheduled run waits for it and runs once it is back (catch_up_s)"
	local i run="" id
	# Stopped early in a minute with none of its runs under way: it is offline
	# (not seen for longpoll_s + 15 s = 25 s) by the next firing.
	for i in $(seq 120); do
		[ "$(date +%S | sed 's/^0//')" -ge 2 ] && [ "$(date +%S | sed 's/^0//')" -le 15 ] &&
			[ "$(lab_api GET "/api/v1/runs?verdict=pending&limit=50" | jq '[.runs[] | select(.agents.a == "laptop")] | length')" = 0 ] && break
		sleep 1
	done
	lab_stop agent-laptop
	for i in $(seq 150); do
		run=$(lab_api GET "/api/v1/runs?verdict=pending&limit=50" |
			jq -c '[.runs[] | select(.schedule == "minutely" and .waited_for != null)][0] // empty')
		[ -n "$run" ] && break
		sleep 1
	done
	assert_match "the firing with the laptop away left a run waiting for it" "$run" \
		'"waited_for":"laptop \(offline, last seen [0-9-]+ [0-9:]+ UTC\)"'
	id=$(printf '%s' "$run" | jq -r .run_id)
	# (A later firing while it waits is the same catch-up, not another run:
	# test_scheduler holds that, without a minute's wait here.)
	lab_agent_start laptop laptop vpn-laptops
	DOC=catch-up
	wait_run_end "$id" 90
	assert_eq "it ran once the laptop was back, and passed" "$(q '"\(.state) \(.verdict)"')" "done pass"
	assert_match "its note says it ran late, for whom and how late" "$(q .note)" \
		'^ran late: it waited for laptop \(offline, last seen .*\); it started [0-9]+ s after it was created, once its agents were present \(\[schedule.minutely\] catch_up_s\)$'
	assert_no_match "said once" "$(q .note)" 'ran late.*ran late'
	assert_eq "its trigger: the cron schedule" "$(q .trigger)" cron
	printf '  (%s: run %s, %s)\n' "$DOC" "$id" "$(q .note)"
	show_on_failure
}

# The runs of laptop2's pairs that a network event started (any state).
event_runs() {
	lab_api GET "/api/v1/runs?limit=100" |
		jq -c '[.runs[] | select(.agents.a == "laptop2" and .schedule == "roaming")]'
}

scenario_vpn_up() {
	section "a VPN that comes up under a running agent starts its pairs' run by itself (on = vpn-up)"
	local log=$LAB_STATE/agent-laptop2.log i id="" runs
	lab_vpn_down laptop2
	lab_wait_log "$log" 'network: vpn-down: gpd0 went down' 20
	assert_ok "the agent reported the VPN going down, once settled" grep -q 'network: vpn-down: gpd0 went down' "$log"
	lab_vpn_up laptop2
	lab_wait_log "$log" 'network: vpn-up: gpd0 came up' 20
	assert_ok "and coming up again" grep -q 'network: vpn-up: gpd0 came up' "$log"
	for i in $(seq 60); do
		id=$(event_runs | jq -r '.[0].run_id // empty')
		[ -n "$id" ] && break
		sleep 0.5
	done
	assert_ne "the controller started a run of laptop2's pair on it" "$id" ""
	DOC=vpn-up
	wait_run_end "$id" 90
	assert_eq "the run passed" "$(q '"\(.state) \(.verdict)"')" "done pass"
	assert_eq "its trigger is the VPN coming up, by the roaming schedule" "$(q '"\(.trigger) \(.schedule)"')" "vpn-up roaming"
	assert_match "its note names the event" "$(q .note)" '^vpn-up on laptop2: gpd0 came up \('
	runs=$(event_runs)
	assert_eq "the VPN going down started nothing (on = vpn-up)" "$(printf '%s' "$runs" | jq length)" 1
	assert_match "the agent's last event is on the agents' list" \
		"$(lab_api GET /api/v1/agents | jq -c '.agents[] | select(.name == "laptop2") | .network_event')" '"kind":"vpn-up"'
	echo "  the report of laptop2, whose VPN came up under its agent (run $id):"
	"$ICEPROBE" report "$LAB_STATE/$DOC.json" | sed 's/^/    | /' | head -n 40
	show_on_failure
}

scenario_vpn_flap() {
	section "a VPN that flaps ten times starts no storm: one run in all (the agent settles, min_interval_s)"
	local log=$LAB_STATE/agent-laptop2.log before i events
	before=$(grep -c 'network: ' "$log")
	for i in $(seq 10); do
		lab_vpn_down laptop2
		sleep 0.3
		lab_vpn_up laptop2
		sleep 0.5
	done
	# The agent reports once the network has been quiet for its settle time (2 s).
	for i in $(seq 40); do
		[ "$(grep -c 'network: ' "$log")" -gt "$before" ] && break
		sleep 0.5
	done
	sleep 4
	events=$(($(grep -c 'network: ' "$log") - before))
	assert_gt "the agent reported the flapping" "$events" 0
	assert_lt "settled into fewer events than flaps" "$events" 10
	printf '  (the agent reported %s event(s) for ten flaps: %s)\n' "$events" \
		"$(grep 'network: ' "$log" | tail -n "$events" | sed 's/^.*network: //' | cut -c1-160 | paste -sd'|')"
	assert_ok "the controller started no run for it (min_interval_s)" \
		grep -q "schedule roaming: laptop2's vpn-up comes within 600 s (min_interval_s)" "$LAB_STATE/controller.log"
	assert_eq "one run of laptop2's pairs by a network event in all" "$(event_runs | jq length)" 1
}

scenario_branch() {
	section "seed 003: an edge without its route to a branch subnet"
	run branch-good laptop branch
	assert_eq "with the route: laptop and branch host pass" "$(q .verdict)" pass
	show_on_failure
	lab_edge_route_branch off
	run branch laptop branch
	local failing=$RUN_ID
	assert_eq "without it: EDGE_NO_ROUTE_TO_PEER, on the branch's side" \
		"$(q '[.findings[] | select(.code == "EDGE_NO_ROUTE_TO_PEER") | .evidence.agent] | join(",")')" branch
	assert_eq "naming the direction and the network" \
		"$(q '.findings[] | select(.code == "EDGE_NO_ROUTE_TO_PEER") | .evidence.direction + " " + .evidence.network')" \
		"edge to side b $LAB_BRANCH/24"
	assert_eq "verdict fail" "$(q .verdict)" fail
	show_on_failure
	run external laptop ext
	assert_eq "while the laptop and an external host still pass" "$(q .verdict)" pass
	show_on_failure
	# The matrix of seed 003, on the idle tunnel in each dialect (each its own
	# profile): the external user with the branch fails too, the laptop with the
	# corp host passes; the analysis across the pairs names the branch.
	case $LAB_VARIANT in "" | -ms-ice2) ;; *)
		lab_edge_route_branch on
		return
		;;
	esac
	run ext-branch ext branch
	failing="$failing $RUN_ID"
	assert_eq "the external user and the branch host fail too, EDGE_NO_ROUTE_TO_PEER on the branch's side" \
		"$(q .verdict) $(q '[.findings[] | select(.code == "EDGE_NO_ROUTE_TO_PEER") | .evidence.agent] | unique | join(",")')" \
		"fail branch"
	show_on_failure
	run laptop-corp laptop corp
	assert_eq "the laptop and the corp host pass" "$(q .verdict)" pass
	show_on_failure
	branch_analysis "$failing"
	lab_edge_route_branch on
}

# branch_analysis "RUN_ID RUN_ID": the controller's analysis across the pairs
# of the lab profile, as the API, /metrics and the status page (in Chromium)
# give it: the branch's side, its subnet, the edge's route, those runs.
branch_analysis() {
	local doc=$LAB_STATE/analysis$LAB_VARIANT want page
	lab_api GET /api/v1/analysis >"$doc.json"
	jq -c --arg p "$LAB_PROFILE_NAME" '.profiles[] | select(.profile == $p) |
		{pairs, patterns: [.patterns[] | {side, subnet, cause, run_ids}], note}' "$doc.json"
	assert_eq "GET /api/v1/analysis: every pair with the branch fails, on its subnet, for the edge's route" \
		"$(jq -r --arg p "$LAB_PROFILE_NAME" '.profiles[] | select(.profile == $p) | .patterns[] |
			"\(.side) \(.subnet) \(.cause)"' "$doc.json")" "branch $LAB_BRANCH_NET edge_route"
	want=$(printf '%s\n' $1 | sort | paste -sd,)
	assert_eq "the runs that show it: laptop and external user with the branch" \
		"$(jq -r --arg p "$LAB_PROFILE_NAME" '.profiles[] | select(.profile == $p) | .patterns[].run_ids |
			sort | join(",")' "$doc.json")" "$want"
	assert_match "/metrics: the pattern, valued by its two failing pairs" \
		"$(lab_exec ctl curl -s --cacert "$LAB_STATE/ctl/ca.pem" "$LAB_CTL_URL/metrics")" \
		"iceprobe_analysis_pattern\\{profile=\"$LAB_PROFILE_NAME\",side=\"branch\",subnet=\"$LAB_BRANCH_NET\",cause=\"edge_route\"\\} 2"
	chromium_load "$doc" "$LAB_CTL_URL/" lab_exec ctl
	page=$(cat "$doc.dom")
	assert_eq "the status page renders in Chromium without a console message" "$(cat "$doc.console")" ""
	assert_match "it shows the matrix, the branch's cells failing with the edge's missing route" "$page" \
		"<table class=\"matrix\">.*<th class=\"ag\">branch</th>.*class=\"c c-fail\"><a href=\"/runs/[^\"]+\" title=\"laptop \\(side a\\) with branch \\(side b\\)[^>]*><span class=\"v fail\">fail</span>(<code>[A-Z_]+</code>)*<code>EDGE_NO_ROUTE_TO_PEER</code>"
	assert_match "and under it, in one sentence, the branch's subnet and the edge's route" "$page" \
		"<div class=\"analysis\" data-cause=\"edge_route\"><p>Every pair with agent branch, on ${LAB_BRANCH_NET//./\\.}, fails and every other pair passes: the edge lacks its route to that subnet"
	[ -z "$LAB_VARIANT" ] && cp "$doc.png" "${ICEPROBE_ARTIFACTS:-$LAB_STATE}/status-page-branch.png" 2>/dev/null
	return 0
}

# The agents stop cleanly on SIGTERM; the sanitizer build would say so here.
check_agents_stop() {
	local a
	for a in "$@"; do
		lab_stop "agent-$a"
		assert_match "agent $a stopped cleanly on SIGTERM" "$(tail -n 3 "$LAB_STATE/agent-$a.log")" 'stopped; 0 report'
		assert_no_match "agent $a: no sanitizer report" "$(cat "$LAB_STATE/agent-$a.log")" 'Sanitizer|runtime error'
	done
}

body() {
	if [ "$GROUP" = schedule ]; then
		LAB_CTL_EXTRA=("[schedule.minutely]" "cron = * * * * *" "catch_up_s = 300" "profile = lab"
			"a = group:vpn-laptops" "b = group:internal"
			"[schedule.roaming]" "on = vpn-up" "min_interval_s = 600" "profile = lab"
			"a = group:roaming" "b = group:internal")
		LAB_AGENT_ARGS=(--settle-s 2)
		# The whole group with IPv6 at home and in the tunnels, as laptops have
		# it: every assertion as without (the idle IPv4 passes are basic's).
		lab_ipv6 home+vpn
	fi
	lab_controller_start
	lab_agent_start laptop laptop vpn-laptops
	lab_agent_start corp corp internal
	case $GROUP in
	basic)
		lab_variants steady scenario_good scenario_block_missing
		lab_variants bursty scenario_udp_only
		lab_busy bursty
		scenario_cli_peer
		lab_busy off
		scenario_old_kernel
		# IPv6 at home and in the tunnel, the corp LAN in IPv6 too: the same
		# verdicts; and a block that forgets IPv6 is found.
		lab_ipv6_variants home+vpn scenario_good scenario_block_missing scenario_udp_only \
			scenario_ipv6_forgotten
		check_agents_stop laptop corp
		;;
	vpn)
		lab_agent_start laptop2 laptop2 vpn-laptops
		lab_variants bursty scenario_hairpin
		lab_variants steady scenario_dns_internal scenario_tls_intercept
		# Both laptops with IPv6 at home and in their tunnels.
		lab_ipv6_variants home+vpn scenario_hairpin scenario_dns_internal scenario_tls_intercept
		check_agents_stop laptop laptop2 corp
		;;
	branch)
		lab_agent_start branch branch internal
		lab_agent_start ext ext external
		lab_variants steady scenario_branch
		lab_ipv6_variants home scenario_branch
		check_agents_stop laptop branch ext corp
		;;
	schedule)
		# The nightly case: scheduled runs on a laptop whose tunnel is busy
		# the whole time (the idle tunnel's passes are basic's).
		lab_busy bursty
		lab_agent_start laptop2 laptop2 roaming
		scenario_schedule
		scenario_catch_up
		scenario_vpn_up
		scenario_vpn_flap
		lab_busy off
		check_agents_stop laptop laptop2 corp
		;;
	*) lab_die "unknown group '$GROUP' (basic, vpn, branch, schedule)" ;;
	esac
	assert_summary
}

lab_run body
