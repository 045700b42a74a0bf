#!/usr/bin/env bash
# iceprobe interfaces in the lab's laptop: the tunnel is found from kernel facts,
# whatever its name (scenario e: renamed to something no pattern matches).
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"
ICEPROBE=${ICEPROBE:?set ICEPROBE to the iceprobe binary}

class_of() { # json ifname
	printf '%s' "$1" | jq -r --arg n "$2" '.interfaces[] | select(.name == $n) | .class'
}

body() {
	local out
	out=$(lab_exec laptop "$ICEPROBE" interfaces --json)
	assert_eq "gpd0 (wireguard-go) is a tunnel" "$(class_of "$out" gpd0)" tunnel
	assert_eq "its reason is a kernel fact, not its name" \
		"$(printf '%s' "$out" | jq -r '.interfaces[] | select(.name == "gpd0") | .reason')" \
		"link kind 'tun' (tun mode): a user-space tunnel such as a VPN client"
	assert_eq "eth0 (the uplink, a veth) is physical" "$(class_of "$out" eth0)" physical
	assert_eq "lo is loopback" "$(class_of "$out" lo)" loopback
	assert_eq "the tunnel's address is listed" \
		"$(printf '%s' "$out" | jq -r '.interfaces[] | select(.name == "gpd0") | .addresses[0]')" \
		"$LAB_LAPTOP_VPN/32"

	lab_rename_tunnel corpvpn3
	out=$(lab_exec laptop "$ICEPROBE" interfaces --json)
	assert_eq "renamed to corpvpn3, it is still a tunnel" "$(class_of "$out" corpvpn3)" tunnel
	printf '[profile]\nname=t\n[edge]\nhost=%s\nsecret_file=%s\n[network]\ntunnel_names=gpd*\n' \
		"$LAB_EDGE_PUB" "$LAB_STATE/turn.secret" >"$LAB_STATE/t.conf"
	out=$(lab_exec laptop "$ICEPROBE" interfaces --json --profile "$LAB_STATE/t.conf")
	assert_eq "and with a profile whose patterns do not match it" "$(class_of "$out" corpvpn3)" tunnel
	assert_match "the human table shows class and reason" \
		"$(lab_exec laptop "$ICEPROBE" interfaces)" 'corpvpn3 +tunnel +tun .*link kind'
	assert_summary
}

lab_run body
