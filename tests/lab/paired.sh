#!/usr/bin/env bash
# Paired runs through the controller, as a user meets them: the controller in
# its own namespace, agents (unprivileged) on the VPN laptop and the corp host,
# each run started through the admin API and judged from the stored result.
# Usage: paired.sh GROUP   (basic: good, vpn-block-missing)
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"
ICEPROBE=${ICEPROBE:?set ICEPROBE to the iceprobe binary}
ICEPROBE_CONTROLLER=${ICEPROBE_CONTROLLER:?set ICEPROBE_CONTROLLER to the controller binary}
GROUP=${1:-basic}
export LAB_STREAM_S=${LAB_STREAM_S:-2}
ASSERT_NAME=paired-$GROUP

q() { jq -r "$1" "$LAB_STATE/$DOC.json"; }
codes() { q '[.findings[].code] | unique | join(",")'; }
has_code() { q "[.findings[].code] | index(\"$1\") != null"; }
side() { q ".paths[] | select(.name == \"$1\") | .sides.$2.selected_pair.local.$3 // \"none\""; }
run() { # DOC a b
	DOC=$1
	lab_paired "$2" "$3" "$LAB_STATE/$DOC.json"
	printf '  (%s: run %s, %s, %s s start to verdict)\n' "$DOC" "$RUN_ID" "$(q .verdict)" "$RUN_SECONDS"
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
	assert_gt "natural: the stream arrived both ways (packets received a to b)" \
		"$(q '.paths[] | select(.name == "natural") | .sides.b.metrics.directions.in.packets_received')" 50
	assert_gt "natural: and b to a" \
		"$(q '.paths[] | select(.name == "natural") | .sides.a.metrics.directions.in.packets_received')" 50
	assert_eq "both agents are in probes[]" "$(q '[.probes[].agent] | sort | join(",")')" "corp,laptop"
	show_on_failure
}

scenario_block_missing() {
	section "the VPN block missing: VPN pool and corp allowed"
	lab_vpngw_policy allow
	run open laptop corp
	assert_eq "verdict fail" "$(q .verdict)" fail
	assert_eq "MEDIA_VIA_TUNNEL" "$(has_code MEDIA_VIA_TUNNEL)" true
	assert_eq "TUNNEL_PATH_OPEN" "$(has_code TUNNEL_PATH_OPEN)" true
	assert_eq "natural: the laptop's pair is host on the tunnel" "$(side natural a type)/$(side natural a interface_class)" host/tunnel
	assert_eq "the finding names side a, the laptop" \
		"$(q '[.findings[] | select(.code == "MEDIA_VIA_TUNNEL") | .evidence.agent] | unique | join(",")')" laptop
	show_on_failure
	lab_vpngw_policy block
}

body() {
	lab_controller_start
	lab_agent_start laptop laptop vpn-laptops
	lab_agent_start corp corp internal
	case $GROUP in
	basic) scenario_good; scenario_block_missing ;;
	*) lab_die "unknown group '$GROUP' (basic)" ;;
	esac
	assert_summary
}

lab_run body
