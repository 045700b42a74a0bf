#!/usr/bin/env bash
# ./run demo: the lab, then the probe on a good and on a broken configuration.
set -u
. "$(dirname "$0")/lab.sh"
ICEPROBE=${ICEPROBE:-$(dirname "$0")/../../build/probe/iceprobe}
export LAB_STREAM_S=${LAB_STREAM_S:-3}

banner() { printf '\n\033[1m━━ %s\033[0m\n' "$*"; }

demo() {
	lab_write_profile "$LAB_STATE/lab.conf"
	banner "The laptop's interfaces (iceprobe interfaces)"
	lab_exec laptop "$ICEPROBE" interfaces

	banner "1. The right configuration: split tunnel excludes the edge, the VPN gateway blocks the pool"
	echo "   from internal subnets (all protocols, both ways) and from the internet through the tunnel."
	echo "   \$ iceprobe run --profile lab.conf"
	lab_exec laptop "$ICEPROBE" run --profile "$LAB_STATE/lab.conf"
	echo "   (exit code $?)"

	banner "2. Broken: the edge's public address is routed into the tunnel, the gateway NATs it out"
	lab_split edge-in-tunnel
	lab_vpngw_internet nat
	echo "   \$ iceprobe run --profile lab.conf"
	lab_exec laptop "$ICEPROBE" run --profile "$LAB_STATE/lab.conf"
	echo "   (exit code $?)"
}

cat <<'TXT'
iceprobe demo: a VPN laptop behind a home NAT with a WireGuard tunnel (gpd0) to a VPN gateway
with an nftables firewall, an A/V edge running coturn (UDP/TCP 3478, TLS 443), a corp host,
an external host and split DNS, each in its own network namespace. The probe runs in the laptop.
TXT
lab_run demo
