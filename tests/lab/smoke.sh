#!/usr/bin/env bash
# Lab smoke test: each part of the lab is real and does what scenarios rely on.
# Exit 0 all checks passed, 1 a check failed, 77 cannot set up (outside CI only).
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"

smoke() {
# Small echo servers that answer with the address they saw the client come
# from, so a check can prove NAT and tunnel paths, not just reachability.
lab_spawn edge echo-udp-edge socat UDP4-RECVFROM:7000,bind="$LAB_EDGE_PUB",fork SYSTEM:'echo $SOCAT_PEERADDR'
lab_spawn corp echo-udp-corp socat UDP4-RECVFROM:7000,bind="$LAB_CORP",fork SYSTEM:'echo $SOCAT_PEERADDR'
lab_spawn corp echo-tcp-corp socat TCP4-LISTEN:7001,bind="$LAB_CORP",fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR'
lab_spawn corp turn-peer turnutils_peer -L "$LAB_CORP" -p 3480
lab_wait_listen corp udp 7000
lab_wait_listen corp tcp 7001
lab_wait_listen corp udp 3480
lab_wait_listen edge udp 7000

udp_probe() { # node addr port -> what the server saw, or nothing (UDP: three tries)
	local i got
	for i in 1 2 3; do
		got=$(printf 'x\n' | lab_exec "$1" socat -T1 - "UDP4:$2:$3" 2>/dev/null | head -1)
		[ -n "$got" ] && break
	done
	printf '%s\n' "$got"
}
tcp_probe() {
	lab_exec "$1" timeout --foreground 2 socat -T1 - "TCP4:$2:$3,connect-timeout=1" </dev/null 2>/dev/null | head -1
}
tunnel_tx() { lab_exec laptop cat "/sys/class/net/$LAB_TUNNEL_IF/statistics/tx_packets"; }

section "paths"
assert_eq "laptop reaches the edge through the home NAT (edge sees the NAT's address)" \
	"$(udp_probe laptop "$LAB_EDGE_PUB" 7000 | cut -d: -f1)" "$LAB_HOME_WAN"
assert_eq "the route from the laptop to the edge leaves through eth0 (split tunnel)" \
	"$(lab_exec laptop ip -o route get "$LAB_EDGE_PUB" | grep -o 'dev [^ ]*')" "dev eth0"

lab_vpngw_policy allow
tx0=$(tunnel_tx)
assert_eq "laptop reaches the corp host through the tunnel over UDP (corp sees the VPN address)" \
	"$(udp_probe laptop "$LAB_CORP" 7000 | cut -d: -f1)" "$LAB_LAPTOP_VPN"
assert_eq "laptop reaches the corp host through the tunnel over TCP" \
	"$(tcp_probe laptop "$LAB_CORP" 7001 | cut -d: -f1)" "$LAB_LAPTOP_VPN"
assert_gt "the tunnel's tx counter moved with that traffic" "$(tunnel_tx)" "$tx0"

section "firewall"
lab_vpngw_policy block
assert_eq "the VPN gateway drops UDP from the VPN pool to internal subnets" \
	"$(udp_probe laptop "$LAB_CORP" 7000)" ""
assert_eq "the VPN gateway drops TCP from the VPN pool to internal subnets" \
	"$(tcp_probe laptop "$LAB_CORP" 7001)" ""
assert_fails "internal hosts cannot reach the VPN pool either" \
	lab_exec corp ping -c1 -W1 "$LAB_LAPTOP_VPN"
assert_match "the drops are the firewall's (its counters moved)" \
	"$(lab_exec vpngw nft list table inet iplab-fw)" 'ip daddr 10.0.0.0/8 counter packets [1-9]'
assert_eq "VPN clients still reach the VPN view of DNS through the block" \
	"$(lab_exec laptop dig +short +time=1 +tries=1 "$LAB_EDGE_NAME")" "$LAB_EDGE_PUB"
lab_vpngw_internet block
assert_fails "tunnel to internet is blocked at the gateway" \
	lab_exec laptop ping -c1 -W1 -I "$LAB_TUNNEL_IF" "$LAB_EDGE_PUB"
lab_vpngw_internet nat
assert_ok "with the gateway NATing the pool, the edge is reachable through the tunnel" \
	lab_exec laptop ping -c1 -W1 -I "$LAB_TUNNEL_IF" "$LAB_EDGE_PUB"
lab_vpngw_internet block

section "split tunnel"
lab_split edge-in-tunnel
assert_eq "edge-in-tunnel sends the edge's address into $LAB_TUNNEL_IF" \
	"$(lab_exec laptop ip -o route get "$LAB_EDGE_PUB" | grep -o 'dev [^ ]*')" "dev $LAB_TUNNEL_IF"
lab_split tunnel-all
assert_eq "tunnel-all sends the internet into $LAB_TUNNEL_IF" \
	"$(lab_exec laptop ip -o route get 198.51.100.200 | grep -o 'dev [^ ]*')" "dev $LAB_TUNNEL_IF"
assert_eq "tunnel-all keeps the VPN endpoint on eth0" \
	"$(lab_exec laptop ip -o route get "$LAB_VPNGW_PUB" | grep -o 'dev [^ ]*')" "dev eth0"
lab_split split

section "TURN relay (coturn's own client, REST credentials, relaying to the corp peer)"
uclient() {
	lab_exec laptop timeout --foreground 20 turnutils_uclient "$@" -W "$LAB_TURN_SECRET" -u lab -e "$LAB_CORP" -r 3480 \
		-n 5 -m 1 -c "$LAB_EDGE_PUB" 2>&1 | grep -o 'Total lost packets [0-9]*'
}
assert_eq "TURN allocation over UDP 3478 relays data" "$(uclient)" "Total lost packets 0"
assert_eq "TURN allocation over TCP 3478 relays data" "$(uclient -t)" "Total lost packets 0"
assert_eq "TURN allocation over TLS 443 relays data" \
	"$(uclient -t -S -p 443 -E "$LAB_STATE/pki/ca.pem")" "Total lost packets 0"
tls_verify() {
	lab_exec laptop timeout --foreground 5 openssl s_client -connect "$LAB_EDGE_PUB:443" -servername "$LAB_EDGE_NAME" \
		-verify_return_error -CAfile "$1" </dev/null 2>&1 | grep -oE '^Verification( error)?: .*' | head -1
}
assert_eq "TLS on 443 presents the edge certificate signed by the lab CA" \
	"$(tls_verify "$LAB_STATE/pki/ca.pem")" "Verification: OK"
assert_match "a different CA does not verify it" "$(tls_verify "$LAB_STATE/pki/mitm.pem")" "^Verification error: unable to get local issuer"

section "split DNS"
assert_eq "the VPN view resolves the edge to its external address" \
	"$(lab_exec laptop dig +short +time=1 +tries=1 "$LAB_EDGE_NAME")" "$LAB_EDGE_PUB"
assert_eq "the internal view resolves the edge to its internal address" \
	"$(lab_exec corp dig +short +time=1 +tries=1 "$LAB_EDGE_NAME")" "$LAB_EDGE_INT"
lab_dns_vpn_view internal
assert_eq "a scenario can make the VPN view answer wrong" \
	"$(lab_exec laptop dig +short +time=1 +tries=1 "$LAB_EDGE_NAME")" "$LAB_EDGE_INT"
lab_dns_vpn_view right

section "names"
assert_no_match "no lab interface has a name libnice ignores" \
	"$(for n in "${LAB_NODES[@]}"; do lab_exec "$n" ip -o link show; done)" ': (veth|docker|virbr|vnet)'
lab_rename_tunnel corpvpn3
assert_ok "the tunnel still carries traffic after a rename to corpvpn3" \
	lab_exec laptop ping -c1 -W1 -I corpvpn3 "$LAB_VPNGW_VPN"

assert_summary
}

lab_run smoke
