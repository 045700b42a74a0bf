#!/usr/bin/env bash
# ./run demo: the lab; the probe on a good and on a broken configuration; then
# the controller with agents on the VPN laptop and the corp host, paired runs
# through its API, and its status page saved (HTML and a screenshot).
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/chromium.sh"
ICEPROBE=${ICEPROBE:-$(dirname "$0")/../../build/probe/iceprobe}
ICEPROBE_CONTROLLER=${ICEPROBE_CONTROLLER:-$(dirname "$0")/../../build/controller/iceprobe-controller}
DEMO_OUT=${DEMO_OUT:-$PWD/demo-out}
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
	lab_split split

	banner "2b. Subtler: the split tunnel is right, but the gateway still passes the pool to the edge"
	echo "   (NAT to the internet). The tunnel-only path finds it whatever pair this run's natural path won,"
	echo "   and the advice names the gateway, not a split-tunnel exclusion. Both ICE clients are emulated:"
	echo "   \$ iceprobe run --profile lab.conf    ([ice] nomination = aggressive;regular)"
	LAB_NOMINATION="aggressive;regular" lab_write_profile "$LAB_STATE/lab-both.conf"
	lab_exec laptop "$ICEPROBE" run --profile "$LAB_STATE/lab-both.conf"
	echo "   (exit code $?)"
	lab_vpngw_internet block

	banner "3. The controller (its own namespace, HTTPS) with agents on the VPN laptop and the corp host"
	lab_controller_start
	lab_agent_start laptop laptop vpn-laptops
	lab_agent_start corp corp internal
	echo "   agents registered with iceprobe-controller agent-add, running as an unprivileged user:"
	lab_api GET /api/v1/agents | jq -r '.agents[] | "     \(.name) (\(.groups | join(","))), version \(.version), interfaces: \([.interfaces[] | "\(.name)=\(.class)"] | join(" "))"'

	banner "4. A paired run, laptop against corp host, on the right configuration"
	echo "   \$ curl -X POST $LAB_CTL_URL/api/v1/runs -d '{\"profile\": \"lab\", \"a\": \"laptop\", \"b\": \"corp\"}'"
	lab_paired laptop corp "$LAB_STATE/good.json"
	echo "   (run $RUN_ID: $RUN_SECONDS s from the API call to the stored verdict)"
	"$ICEPROBE" report "$LAB_STATE/good.json"
	echo "   (exit code $?)"

	banner "5. Broken: the VPN gateway lets the VPN pool reach the internal subnets"
	lab_vpngw_policy allow
	lab_paired laptop corp "$LAB_STATE/open.json"
	echo "   (run $RUN_ID: $RUN_SECONDS s from the API call to the stored verdict)"
	"$ICEPROBE" report "$LAB_STATE/open.json"
	echo "   (exit code $?)"
	lab_vpngw_policy block

	banner "6. The controller's status page"
	mkdir -p "$DEMO_OUT"
	lab_exec ctl curl -s --cacert "$LAB_STATE/ctl/ca.pem" "$LAB_CTL_URL/" >"$DEMO_OUT/status.html"
	cp "$LAB_STATE/good.json" "$DEMO_OUT/good-run.json"
	cp "$LAB_STATE/open.json" "$DEMO_OUT/broken-run.json"
	if command -v chromium >/dev/null; then
		chromium_load "$LAB_STATE/status" "$LAB_CTL_URL/" lab_exec ctl
		cp "$LAB_STATE/status.png" "$DEMO_OUT/status.png"
	fi
	echo "   saved: $DEMO_OUT/status.html, $DEMO_OUT/status.png, and both runs' documents"
	echo "   (good-run.json, broken-run.json) in $DEMO_OUT"
}

cat <<'TXT'
iceprobe demo: a VPN laptop behind a home NAT with a WireGuard tunnel (gpd0) to a VPN gateway
with an nftables firewall, an A/V edge running coturn (UDP/TCP 3478, TLS 443), a corp host,
an external host and split DNS, each in its own network namespace. The probe runs in the laptop;
then the controller, in a namespace of its own, runs paired tests with agents on the laptop and the
corp host.
TXT
lab_run demo
