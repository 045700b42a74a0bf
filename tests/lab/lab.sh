# shellcheck shell=bash
# The iceprobe network lab: real parts in network namespaces.
#
# Source this file, then call `lab_run FUNCTION` (or `lab_up` for a lab whose
# caller handles signals itself); both install the teardown trap.
# Everything lives in namespaces whose names carry a per-run suffix, so two
# labs on one machine never collide; nothing is created in the host namespace
# except /etc/netns/<ns>/ (resolv.conf for `ip netns exec`) and wireguard-go's
# control sockets, both removed by lab_down.
#
#                         inet (router, bridge br0: 198.51.100.1/24, 203.0.113.1/24)
#        ┌────────────────┬──────┴─────────┬──────────────────┬──────────────────┐
#   home 198.51.100.2  vpngw 198.51.100.3  edge 203.0.113.10  extnat 198.51.100.4  ctl 203.0.113.20
#    │ NAT                │ nft forward     │ coturn             │ NAT
#   laptop eth0 10.254.1.10                 │ int0 10.1.0.20     ext 10.253.1.10
#   laptop gpd0 100.64.0.2 ══ wireguard-go ══ vpngw vpn0 100.64.0.1
#   laptop2 (behind home2 198.51.100.5, LAN 10.254.2.10) gpd0 100.64.0.3 ══ the same gateway
#                               vpngw brc 10.1.0.1 (corp LAN: corp 10.1.0.10,
#                                 edge int0 10.1.0.20, dns 10.1.0.53 / 10.1.0.54)
#
# DNS has two views: 10.1.0.53 answers the internal view, 10.1.0.54 the VPN
# view. The laptop resolves through the VPN view (split DNS over the tunnel).
#
# Scenario knobs (callable after lab_up, any order, any number of times):
#   lab_split split|edge-in-tunnel|tunnel-all   which prefixes the laptop sends into gpd0
#   lab_vpngw_policy block|udp-only|vpn-to-vpn|allow  VPN pool <-> internal subnets and VPN <-> VPN
#   lab_vpngw_internet block|nat                VPN pool -> internet through the tunnel
#   lab_dns_vpn_view right|internal             what the VPN view answers for the edge names
#   lab_rename_tunnel NAME                      rename the laptop's tunnel interface
#   lab_edge_udp block|allow                    drop UDP to the edge's public address
#   lab_edge_down [KILL]                        stop coturn (KILL: at once, as a crash)
#   lab_tls_intercept on|off                    a decrypting middlebox on the home router
#   lab_edge_route_branch on|off                the edge's route to the branch subnet 10.2.0.0/24
#   lab_mark_edge on|off                        UDP to the edge re-routed into gpd0 by a firewall mark
#   lab_busy steady|bursty|off                  other traffic through the VPN laptops' tunnels
#   lab_ipv6 off|home|home+vpn                  IPv6 on the laptops' home LANs (a delegated 2001:db8
#                                               prefix, routed), and with home+vpn in the tunnels too
#   lab_impair UP DOWN [SEED] | lab_impair off   impair the laptop's home link (iceprobe-impair
#                                               through NFQUEUE on the home router; its log in
#                                               $LAB_STATE/impair.tsv, nft counters per direction)

LAB_DIR_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Public (documentation) addresses and internal ones; everything stays inside the namespaces.
LAB_EDGE_PUB=203.0.113.10
LAB_EDGE_INT=10.1.0.20
LAB_HOME_WAN=198.51.100.2
LAB_VPNGW_PUB=198.51.100.3
LAB_EXTNAT_WAN=198.51.100.4
LAB_LAPTOP_LAN=10.254.1.10
LAB_LAPTOP_VPN=100.64.0.2
LAB_VPNGW_VPN=100.64.0.1
LAB_CORP=10.1.0.10
LAB_EXT=10.253.1.10
LAB_DNS_INTERNAL=10.1.0.53
LAB_DNS_VPN=10.1.0.54
LAB_TURN_REALM=edge.lab
LAB_EDGE_NAME=av.corp.example
LAB_CTL=203.0.113.20
LAB_CTL2=203.0.113.21 # a second controller (lab_controller2_serve)
LAB_CTL_NAME=ctl.corp.example # both, in both DNS views
LAB_HOME2_WAN=198.51.100.5
LAB_LAPTOP2_LAN=10.254.2.10
LAB_LAPTOP2_VPN=100.64.0.3
LAB_BRANCH=10.2.0.10
LAB_BRANCH_NET=10.2.0.0/24 # the branch office's subnet (seed 003)
LAB_PUBLIC_DNS=198.51.100.53
LAB_CHATTER_PORT=4455 # background traffic through the tunnels (lab_busy)
LAB_MARKED_PORTS=61000-61999 # lab_mark_edge's flows through the tunnel
LAB_NODES=(inet home laptop vpngw edge corp extnat ext dns ctl home2 laptop2 branch)
# IPv6 (lab_ipv6): documentation prefixes (2001:db8::/32) for what is public, ULA
# (fd00::/8) inside. The internet's link, a prefix delegated to each home (no
# NAT66), the VPN pool and the corp LAN; the edge, its DNS and the controller
# stay IPv4 (the probe tests the edge at its IPv4 addresses, docs/contract.md).
LAB6_INET=2001:db8:ff::1 # the internet router, on 2001:db8:ff::/64
LAB6_HOME_WAN=2001:db8:ff::2
LAB6_HOME2_WAN=2001:db8:ff::5
LAB6_LAPTOP_LAN=2001:db8:1:1::10 # in the home's 2001:db8:1::/48, LAN 2001:db8:1:1::/64
LAB6_LAPTOP2_LAN=2001:db8:2:1::10
LAB6_POOL=fd00:64::/64 # the VPN pool's IPv6 side
LAB6_VPNGW_VPN=fd00:64::1
LAB6_LAPTOP_VPN=fd00:64::2
LAB6_LAPTOP2_VPN=fd00:64::3
LAB6_CORP_NET=fd00:10::/32 # the corp's IPv6 range (its LAN: fd00:10:1::/64)
LAB6_CORP=fd00:10:1::10
LAB_IPV6=off

lab_log() { printf 'lab: %s\n' "$*" >&2; }
lab_die() {
	printf 'lab: error: %s\n' "$*" >&2
	exit 1
}

# A lab test that cannot set up fails under CI and skips (exit 77) otherwise.
lab_require() {
	local why=""
	[ "$(id -u)" = 0 ] || why="needs root (network namespaces)"
	local t
	for t in ip nft wireguard-go wg turnserver turnutils_uclient dnsmasq openssl; do
		[ -n "$why" ] && break
		command -v "$t" >/dev/null 2>&1 || why="tool '$t' is missing (run ./run test, which installs it)"
	done
	[ -z "$why" ] && [ ! -c /dev/net/tun ] && why="/dev/net/tun is missing"
	if [ -n "$why" ]; then
		if [ "${CI:-}" = true ]; then
			printf 'lab: FAIL: cannot set up the lab: %s\n' "$why" >&2
			exit 1
		fi
		printf 'lab: SKIP: cannot set up the lab: %s\n' "$why" >&2
		exit 77
	fi
}

lab_ns() { printf 'ipl%s-%s' "$LAB_ID" "$1"; }
# Run a command inside a lab node: lab_exec laptop ip addr
lab_exec() {
	local node=$1
	shift
	ip netns exec "$(lab_ns "$node")" "$@"
}

# Start a long-running process in a node, logging to the state dir. Records
# its PID for teardown (setsid execs in place: the PID is the daemon's own).
lab_spawn() {
	local node=$1 tag=$2
	shift 2
	# Its own session: a Ctrl-C meant for the script must not kill the lab
	# under it before the teardown runs (which stops it by this PID).
	ip netns exec "$(lab_ns "$node")" setsid "$@" >"$LAB_STATE/$tag.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$LAB_STATE/$tag.pid"
	LAB_PIDS+=("$pid")
}

lab_stop() { # TAG [SIGNAL]: TERM by default, then KILL after 5 s
	local tag=$1 sig=${2:-TERM} pid
	[ -f "$LAB_STATE/$tag.pid" ] || return 0
	pid=$(cat "$LAB_STATE/$tag.pid")
	kill -s "$sig" "$pid" 2>/dev/null
	local i
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$LAB_STATE/$tag.pid"
}

lab_any_alive() {
	local pid
	for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done
	return 1
}

lab_down() {
	local rc=$?
	trap - EXIT INT TERM HUP
	[ -n "${LAB_ID:-}" ] || return "$rc"
	local f node pids=() pid i
	# A helper library's own teardown first (webrtc/client.sh: each browser's
	# helper processes, which its PID file does not name).
	if declare -F lab_down_hook >/dev/null; then lab_down_hook; fi
	lab_postgres_thaw # stopped processes would not see the TERM below
	for f in "$LAB_STATE"/*.pid; do
		[ -e "$f" ] && pids+=("$(cat "$f")")
	done
	if [ ${#pids[@]} -gt 0 ]; then
		kill "${pids[@]}" 2>/dev/null
		for i in $(seq 30); do
			lab_any_alive "${pids[@]}" || break
			sleep 0.1
		done
		kill -9 "${pids[@]}" 2>/dev/null
		for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
	fi
	for node in "${LAB_NODES[@]}"; do
		ip netns del "$(lab_ns "$node")" 2>/dev/null
		rm -rf "/etc/netns/$(lab_ns "$node")"
	done
	rm -f "/var/run/wireguard/$LAB_WG_LAPTOP.sock" "/var/run/wireguard/$LAB_WG_GW.sock" \
		"/var/run/wireguard/$LAB_WG_LAPTOP2.sock"
	if [ "${LAB_KEEP_STATE:-0}" != 1 ]; then rm -rf "$LAB_STATE"; fi
	lab_log "torn down lab $LAB_ID"
	LAB_ID=""
	return "$rc"
}

lab_on_signal() {
	lab_log "interrupted"
	if [ -n "${LAB_BODY:-}" ]; then
		kill -TERM -- "-$LAB_BODY" 2>/dev/null
		wait "$LAB_BODY" 2>/dev/null
	fi
	exit 130
}

# Bring the lab up, run "$@" (a function of the calling script) against it, tear
# down. The body runs as a job in its own process group and this shell only
# waits: `wait` returns at once on a signal, whatever the body's current command
# does with SIGINT (some ignore it), so Ctrl-C always reaches the teardown.
# LAB_DEADLINE_S (meson's timeout less a margin): meson ends a test that
# overruns with SIGKILL, which no teardown survives (its namespaces and
# processes would stay); the lab ends itself first, torn down, and says so.
lab_run() {
	lab_up
	set -m
	"$@" &
	LAB_BODY=$!
	set +m
	local dog=""
	if [ -n "${LAB_DEADLINE_S:-}" ]; then
		# Its sleep holds none of the test's output open (meson waits for their
		# end), and goes with the watchdog.
		(
			trap 'kill "$nap" 2>/dev/null; exit 0' TERM
			sleep "$LAB_DEADLINE_S" </dev/null >/dev/null 2>&1 &
			nap=$!
			wait "$nap" && lab_log "out of time (${LAB_DEADLINE_S} s): ending the lab" && kill -TERM $$
		) &
		dog=$!
	fi
	wait "$LAB_BODY"
	local rc=$?
	if [ -n "$dog" ]; then
		kill "$dog" 2>/dev/null
		wait "$dog" 2>/dev/null
	fi
	LAB_BODY=""
	return "$rc"
}

# Connect node A's interface IFA to node B's interface IFB with a veth pair
# created inside the namespaces (nothing touches the host namespace).
lab_link() {
	local a=$1 ifa=$2 b=$3 ifb=$4
	ip -n "$(lab_ns "$a")" link add "$ifa" type veth peer name "$ifb" netns "$(lab_ns "$b")"
	ip -n "$(lab_ns "$a")" link set "$ifa" up
	ip -n "$(lab_ns "$b")" link set "$ifb" up
}

lab_addr() { ip -n "$(lab_ns "$1")" addr add "$3" dev "$2"; }

# lab_nat_router ROUTER WAN GATEWAY HOST NET HOST_ADDR: ROUTER's eth0 holds WAN/24
# (default via GATEWAY) and masquerades NET.0/24 of its lan0, where HOST sits at
# HOST_ADDR with NET.1 as its default route.
lab_nat_router() {
	local r=$1 wan=$2 gw=$3 host=$4 net=$5 addr=$6
	lab_addr "$r" eth0 "$wan/24"
	lab_route "$r" default via "$gw"
	lab_link "$r" lan0 "$host" eth0
	lab_addr "$r" lan0 "$net.1/24"
	lab_sysctl "$r" net.ipv4.ip_forward=1
	lab_exec "$r" nft -f - <<-EOF
		table ip iplab {
		  chain post {
		    type nat hook postrouting priority srcnat;
		    oifname "eth0" masquerade
		  }
		}
	EOF
	lab_addr "$host" eth0 "$addr/24"
	lab_route "$host" default via "$net.1"
}
lab_route() {
	local node=$1
	shift
	ip -n "$(lab_ns "$node")" route replace "$@"
}
lab_sysctl() {
	local node=$1
	shift
	lab_exec "$node" sysctl -qw "$@" >/dev/null
}

lab_make_certs() {
	local d=$LAB_STATE/pki
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=iceprobe lab CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null ||
		lab_die "cannot make the lab CA"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$LAB_EDGE_NAME" -keyout "$d/edge.key" -out "$d/edge.csr" 2>/dev/null
	printf 'subjectAltName=DNS:%s,IP:%s\n' "$LAB_EDGE_NAME" "$LAB_EDGE_PUB" >"$d/edge.ext"
	openssl x509 -req -in "$d/edge.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/edge.ext" -out "$d/edge.pem" 2>/dev/null || lab_die "cannot sign the edge certificate"
	# A second, unrelated CA and certificate with the same name: what a decrypting
	# middlebox presents.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$LAB_EDGE_NAME" -keyout "$d/mitm.key" -out "$d/mitm.pem" 2>/dev/null
	openssl x509 -in "$d/edge.pem" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1 >"$d/edge.sha256"
}

lab_start_coturn() {
	lab_spawn edge coturn turnserver -n --listening-ip="$LAB_EDGE_PUB" --listening-ip="$LAB_EDGE_INT" \
		--relay-ip="$LAB_EDGE_PUB" --listening-port=3478 --tls-listening-port=443 \
		--cert="$LAB_STATE/pki/edge.pem" --pkey="$LAB_STATE/pki/edge.key" \
		--use-auth-secret --static-auth-secret="$LAB_TURN_SECRET" --realm="$LAB_TURN_REALM" \
		--fingerprint --no-cli --no-multicast-peers --min-port=49152 --max-port=49999 \
		--pidfile="$LAB_STATE/coturn.pidfile" --log-file=stdout --simple-log \
		--userdb="$LAB_STATE/turndb"
	local i
	for i in $(seq 100); do
		lab_exec edge ss -Htln "sport = :443" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	lab_die "coturn did not start; its log: $(tail -5 "$LAB_STATE/coturn.log")"
}

# The edge's relay in the lab's dialect (LAB_DIALECT): coturn for rfc8445, the
# lab's MS-TURN relay (tests/lab/tools/msturn.c) for ms-ice2, with MRAS
# credentials (base64 strings; the relay and libnice decode them) and an MRAS
# answer carrying them, as a client's log shows it (docs/sfb.md).
lab_start_edge() {
	if [ "${LAB_DIALECT:-rfc8445}" != ms-ice2 ]; then
		lab_start_coturn
		return
	fi
	lab_spawn edge msturn "${ICEPROBE_MSTURN:?set ICEPROBE_MSTURN to iceprobe-msturn}" \
		--listen 0.0.0.0 --relay-ip "$LAB_EDGE_PUB" --udp 3478 --tcp 3478 --tls 443 \
		--realm "$LAB_TURN_REALM" --user-file "$LAB_STATE/mras.user" \
		--password-file "$LAB_STATE/mras.pass" --log "$LAB_STATE/msturn-relay.log"
	lab_wait_listen edge udp 3478
	lab_wait_listen edge tcp 443
}

# lab_write_mras DURATION_MIN: a fresh MRAS set, and the answer that carries it.
lab_write_mras() {
	local user pass
	user=$(printf 'lab-%s@%s' "$LAB_ID" "$LAB_TURN_REALM" | base64)
	pass=$(openssl rand -hex 12 | tr -d '\n' | base64)
	printf '%s\n' "$user" >"$LAB_STATE/mras.user"
	printf '%s\n' "$pass" >"$LAB_STATE/mras.pass"
	cat >"$LAB_STATE/mras.xml" <<-EOF2
		<?xml version="1.0" encoding="utf-8"?>
		<response xmlns="http://schemas.microsoft.com/2006/09/sip/mrasp" requestID="1" version="2.0" serverVersion="2.0" to="sip:probe@corp.example" from="sip:probe@corp.example" reasonPhrase="OK">
		  <credentialsResponse credentialsRequestID="1">
		    <credentials>
		      <username>$user</username>
		      <password>$pass</password>
		      <duration>$1</duration>
		    </credentials>
		    <mediaRelayList>
		      <mediaRelay><location>internet</location><hostName>$LAB_EDGE_NAME</hostName><udpPort>3478</udpPort><tcpPort>443</tcpPort></mediaRelay>
		    </mediaRelayList>
		  </credentialsResponse>
		</response>
	EOF2
}

lab_dns_write() {
	local view=$1 ip=$2
	{
		printf '%s %s\n' "$ip" "$LAB_EDGE_NAME"
		printf '%s %s\n' "${3:-203.0.113.9}" sip.corp.example
		printf '%s %s\n' "${4:-203.0.113.11}" meet.corp.example
		printf '%s %s\n' "$LAB_CORP" corp-host.corp.example
		# one name for the controllers (the second one only when fleet.sh runs it)
		printf '%s %s\n' "$LAB_CTL" "$LAB_CTL_NAME" "$LAB_CTL2" "$LAB_CTL_NAME"
	} >"$LAB_STATE/dns-$view.hosts"
}

lab_start_dns() {
	local view=$1 addr=$2
	lab_spawn dns "dns-$view" dnsmasq --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
		--listen-address="$addr" --bind-interfaces --user=root --pid-file= \
		--addn-hosts="$LAB_STATE/dns-$view.hosts" --local=/corp.example/ --log-facility=-
}

# Bring a lab up. Prints the set-up time. Installs the teardown trap.
lab_up() {
	lab_require
	LAB_ID=$(printf '%04x' $((($$ + RANDOM) % 65536)))
	LAB_STATE=$(mktemp -d "/tmp/iceprobe-lab-$LAB_ID.XXXX")
	LAB_PIDS=()
	LAB_WG_LAPTOP=iplw$LAB_ID
	LAB_WG_LAPTOP2=iplx$LAB_ID
	LAB_WG_GW=iplg$LAB_ID
	LAB_TUNNEL_IF=gpd0
	LAB_TURN_SECRET=$(openssl rand -hex 16)
	trap lab_down EXIT
	trap lab_on_signal INT TERM HUP
	local t0 node
	t0=$(date +%s%N)
	lab_nobody_bin

	for node in "${LAB_NODES[@]}"; do
		ip netns add "$(lab_ns "$node")" || lab_die "cannot create namespace $(lab_ns "$node")"
		lab_exec "$node" ip link set lo up
		lab_sysctl "$node" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		lab_sysctl "$node" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	done

	# The internet: one router with a bridge holding both public subnets.
	ip -n "$(lab_ns inet)" link add br0 type bridge
	ip -n "$(lab_ns inet)" link set br0 up
	lab_addr inet br0 198.51.100.1/24
	lab_addr inet br0 203.0.113.1/24
	lab_sysctl inet net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.br0.send_redirects=0
	local pair
	for pair in home:p-home vpngw:p-vpngw edge:p-edge extnat:p-extnat ctl:p-ctl home2:p-home2; do
		lab_link inet "${pair#*:}" "${pair%%:*}" eth0
		ip -n "$(lab_ns inet)" link set "${pair#*:}" master br0
	done

	# Homes: NAT routers in front of the laptops (the second VPN user is at
	# another home, for calls between two VPN laptops).
	lab_nat_router home "$LAB_HOME_WAN" 198.51.100.1 laptop 10.254.1 "$LAB_LAPTOP_LAN"
	lab_nat_router home2 "$LAB_HOME2_WAN" 198.51.100.1 laptop2 10.254.2 "$LAB_LAPTOP2_LAN"

	# External host behind its own NAT.
	lab_nat_router extnat "$LAB_EXTNAT_WAN" 198.51.100.1 ext 10.253.1 "$LAB_EXT"

	# The controller's host, on the internet side: the laptop reaches it over its
	# physical path, corp through the gateway's NAT (lab_controller_start).
	lab_addr ctl eth0 "$LAB_CTL/24"
	lab_route ctl default via 203.0.113.1

	# VPN gateway: public side, corp LAN bridge (corp host, edge internal side, DNS).
	lab_addr vpngw eth0 "$LAB_VPNGW_PUB/24"
	lab_route vpngw default via 198.51.100.1
	ip -n "$(lab_ns vpngw)" link add brc type bridge
	ip -n "$(lab_ns vpngw)" link set brc up
	lab_addr vpngw brc 10.1.0.1/24
	lab_sysctl vpngw net.ipv4.ip_forward=1
	for pair in corp:p-corp edge:p-edge dns:p-dns; do
		if [ "${pair%%:*}" = edge ]; then
			lab_link vpngw "${pair#*:}" edge int0
		else
			lab_link vpngw "${pair#*:}" "${pair%%:*}" eth0
		fi
		ip -n "$(lab_ns vpngw)" link set "${pair#*:}" master brc
	done
	lab_addr corp eth0 "$LAB_CORP/24"
	lab_route corp default via 10.1.0.1
	lab_addr dns eth0 "$LAB_DNS_INTERNAL/24"
	lab_addr dns eth0 "$LAB_DNS_VPN/24"
	lab_route dns default via 10.1.0.1

	# A branch office subnet behind the gateway (seed 003): the edge needs a route to it.
	lab_link vpngw brb branch eth0
	lab_addr vpngw brb 10.2.0.1/24
	lab_addr branch eth0 "$LAB_BRANCH/24"
	lab_route branch default via 10.2.0.1

	# Edge: public interface towards the internet, internal one towards corp.
	lab_addr edge eth0 "$LAB_EDGE_PUB/24"
	lab_route edge default via 203.0.113.1
	lab_addr edge int0 "$LAB_EDGE_INT/24"
	lab_route edge 100.64.0.0/10 via 10.1.0.1
	lab_route edge "$LAB_BRANCH_NET" via 10.1.0.1

	# The VPN: userspace WireGuard on both ends. The control sockets live in
	# /var/run/wireguard (shared by all namespaces), so the tunnels carry the
	# run's unique names until configured, then are renamed.
	local kl kg
	kl=$(wg genkey)
	kg=$(wg genkey)
	mkdir -p /var/run/wireguard
	local k2
	k2=$(wg genkey)
	LOG_LEVEL=error lab_spawn laptop wg-laptop wireguard-go -f "$LAB_WG_LAPTOP"
	LOG_LEVEL=error lab_spawn laptop2 wg-laptop2 wireguard-go -f "$LAB_WG_LAPTOP2"
	LOG_LEVEL=error lab_spawn vpngw wg-gw wireguard-go -f "$LAB_WG_GW"
	local i
	for i in $(seq 100); do
		[ -S "/var/run/wireguard/$LAB_WG_LAPTOP.sock" ] && [ -S "/var/run/wireguard/$LAB_WG_GW.sock" ] &&
			[ -S "/var/run/wireguard/$LAB_WG_LAPTOP2.sock" ] && break
		sleep 0.05
	done
	[ -S "/var/run/wireguard/$LAB_WG_LAPTOP.sock" ] || lab_die "wireguard-go did not start: $(cat "$LAB_STATE/wg-laptop.log")"
	printf '%s' "$kl" >"$LAB_STATE/wg-laptop.key"
	printf '%s' "$kg" >"$LAB_STATE/wg-gw.key"
	# The gateway is ready before the laptop's first handshake: a lost first
	# initiation costs WireGuard's 5 s rekey timeout.
	printf '%s' "$k2" >"$LAB_STATE/wg-laptop2.key"
	lab_exec vpngw wg set "$LAB_WG_GW" private-key "$LAB_STATE/wg-gw.key" listen-port 51820 \
		peer "$(printf '%s' "$kl" | wg pubkey)" allowed-ips "$LAB_LAPTOP_VPN/32" \
		peer "$(printf '%s' "$k2" | wg pubkey)" allowed-ips "$LAB_LAPTOP2_VPN/32"
	ip -n "$(lab_ns vpngw)" link set "$LAB_WG_GW" name vpn0
	lab_addr vpngw vpn0 "$LAB_VPNGW_VPN/24"
	ip -n "$(lab_ns vpngw)" link set vpn0 mtu 1420 up
	ip -n "$(lab_ns laptop)" link set "$LAB_WG_LAPTOP" name "$LAB_TUNNEL_IF"
	lab_addr laptop "$LAB_TUNNEL_IF" "$LAB_LAPTOP_VPN/32"
	ip -n "$(lab_ns laptop)" link set "$LAB_TUNNEL_IF" mtu 1420 up
	lab_exec laptop wg set "$LAB_WG_LAPTOP" private-key "$LAB_STATE/wg-laptop.key" \
		peer "$(printf '%s' "$kg" | wg pubkey)" endpoint "$LAB_VPNGW_PUB:51820" \
		allowed-ips 0.0.0.0/0 persistent-keepalive 5
	ip -n "$(lab_ns laptop2)" link set "$LAB_WG_LAPTOP2" name gpd0
	lab_addr laptop2 gpd0 "$LAB_LAPTOP2_VPN/32"
	ip -n "$(lab_ns laptop2)" link set gpd0 mtu 1420 up
	lab_exec laptop2 wg set "$LAB_WG_LAPTOP2" private-key "$LAB_STATE/wg-laptop2.key" \
		peer "$(printf '%s' "$kg" | wg pubkey)" endpoint "$LAB_VPNGW_PUB:51820" \
		allowed-ips 0.0.0.0/0 persistent-keepalive 5
	lab_route laptop2 10.0.0.0/8 dev gpd0
	lab_route laptop2 100.64.0.0/10 dev gpd0

	# Services.
	lab_make_certs
	lab_write_mras 480
	lab_start_edge
	lab_dns_write internal "$LAB_EDGE_INT" 10.1.0.9 10.1.0.11
	lab_dns_write vpn "$LAB_EDGE_PUB"
	lab_start_dns internal "$LAB_DNS_INTERNAL"
	lab_start_dns vpn "$LAB_DNS_VPN"
	mkdir -p "/etc/netns/$(lab_ns laptop)" "/etc/netns/$(lab_ns corp)"
	# The internet's DNS (the external view), on the internet router, for the external host.
	lab_addr inet br0 "$LAB_PUBLIC_DNS/24"
	lab_dns_write public "$LAB_EDGE_PUB"
	lab_spawn inet dns-public dnsmasq --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
		--listen-address="$LAB_PUBLIC_DNS" --bind-interfaces --user=root --pid-file= \
		--addn-hosts="$LAB_STATE/dns-public.hosts" --local=/corp.example/ --log-facility=-
	mkdir -p "/etc/netns/$(lab_ns laptop2)" "/etc/netns/$(lab_ns branch)" "/etc/netns/$(lab_ns ext)"
	printf 'nameserver %s\n' "$LAB_DNS_INTERNAL" >"/etc/netns/$(lab_ns branch)/resolv.conf"
	printf 'nameserver %s\n' "$LAB_PUBLIC_DNS" >"/etc/netns/$(lab_ns ext)/resolv.conf"
	printf 'nameserver %s\n' "$LAB_DNS_VPN" >"/etc/netns/$(lab_ns laptop)/resolv.conf"
	printf 'nameserver %s\n' "$LAB_DNS_VPN" >"/etc/netns/$(lab_ns laptop2)/resolv.conf"
	printf 'nameserver %s\n' "$LAB_DNS_INTERNAL" >"/etc/netns/$(lab_ns corp)/resolv.conf"
	printf '%s\n' "$LAB_TURN_SECRET" >"$LAB_STATE/turn.secret"

	# The good configuration by default; scenarios change one thing.
	lab_split split
	lab_vpngw_policy block
	lab_vpngw_internet block
	# Corp hosts reach the edge's public address over the corp LAN (its internal
	# side), as the edge reaches them: relayed media comes back the way it went
	# (docs/libnice.md §24), not through the NAT to the internet.
	lab_exec vpngw ip route add "$LAB_EDGE_PUB/32" via "$LAB_EDGE_INT" dev brc table 100
	lab_exec vpngw ip rule add from 10.0.0.0/8 to "$LAB_EDGE_PUB/32" table 100 priority 100
	lab_exec vpngw nft -f - <<-EOF
		table ip iplab-corpnat {
		  chain post {
		    type nat hook postrouting priority srcnat;
		    oifname "eth0" ip saddr 10.0.0.0/8 masquerade
		  }
		}
	EOF
	lab_wait_tunnel
	LAB_SETUP_MS=$((($(date +%s%N) - t0) / 1000000))
	lab_log "lab $LAB_ID up in ${LAB_SETUP_MS} ms (state in $LAB_STATE)"
}

# The lab runs agents as nobody. A checkout in a home directory of mode 0700
# (root's, /root) is closed to nobody, so nobody runs a copy of the probe from
# the lab's state directory instead: LAB_ICEPROBE_NOBODY (ICEPROBE when unset).
lab_nobody_bin() {
	LAB_ICEPROBE_NOBODY=${ICEPROBE:-}
	[ -n "${ICEPROBE:-}" ] || return 0
	chmod 711 "$LAB_STATE"
	mkdir -p "$LAB_STATE/bin"
	chmod 755 "$LAB_STATE/bin"
	cp "$ICEPROBE" "$LAB_STATE/bin/iceprobe" || lab_die "cannot copy $ICEPROBE for nobody"
	chmod 755 "$LAB_STATE/bin/iceprobe"
	LAB_ICEPROBE_NOBODY=$LAB_STATE/bin/iceprobe
}

# The tunnel is up once a handshake happened; traffic into it triggers one.
lab_wait_tunnel() {
	local i node ifname
	for node in laptop laptop2; do
		ifname=$LAB_TUNNEL_IF
		[ $node = laptop2 ] && ifname=gpd0
		for i in $(seq 50); do
			lab_exec $node ping -c1 -W0.2 -I "$ifname" "$LAB_VPNGW_VPN" >/dev/null 2>&1 && continue 2
		done
		lab_die "the VPN tunnel of $node did not come up"
	done
}

# lab_remark on|off: the laptop's home router re-marks every packet it forwards
# to best effort (DSCP CS0), as routers that do not trust the LAN's markings
# do; off, it leaves them as they are.
lab_remark() {
	lab_exec home nft delete table ip iplab-remark 2>/dev/null
	[ "$1" = on ] || return 0
	lab_exec home nft -f - <<-EOF
		table ip iplab-remark {
		  chain remark {
		    type filter hook forward priority mangle;
		    ip dscp set cs0
		  }
		}
	EOF
}

# lab_vpn_down NODE / lab_vpn_up NODE: the VPN client of laptop or laptop2
# disconnects (its tunnel goes down and the routes into it with it) or connects
# again (the tunnel up, its routes back, a handshake through it).
lab_vpn_down() { ip -n "$(lab_ns "$1")" link set "$(lab_vpn_if "$1")" down; }
lab_vpn_up() {
	local ifname
	ifname=$(lab_vpn_if "$1")
	ip -n "$(lab_ns "$1")" link set "$ifname" up
	if [ "$1" = laptop ]; then
		lab_split "${LAB_SPLIT:-split}"
	else
		lab_route "$1" 10.0.0.0/8 dev "$ifname"
		lab_route "$1" 100.64.0.0/10 dev "$ifname"
		lab_ipv6_tunnel "$1"
	fi
	local i
	for i in $(seq 50); do
		lab_exec "$1" ping -c1 -W0.2 -I "$ifname" "$LAB_VPNGW_VPN" >/dev/null 2>&1 && return 0
	done
	lab_die "the VPN tunnel of $1 did not come up again"
}
lab_vpn_if() { if [ "$1" = laptop ]; then echo "$LAB_TUNNEL_IF"; else echo gpd0; fi; }

lab_split() {
	local ns
	ns=$(lab_ns laptop)
	ip -n "$ns" route del 0.0.0.0/1 2>/dev/null
	ip -n "$ns" route del 128.0.0.0/1 2>/dev/null
	ip -n "$ns" route del "$LAB_EDGE_PUB/32" 2>/dev/null
	ip -n "$ns" route del "$LAB_VPNGW_PUB/32" 2>/dev/null
	# Corp ranges and the VPN pool always go into the tunnel.
	lab_route laptop 10.0.0.0/8 dev "$LAB_TUNNEL_IF"
	lab_route laptop 100.64.0.0/10 dev "$LAB_TUNNEL_IF"
	case $1 in
	split) ;;
	edge-in-tunnel) lab_route laptop "$LAB_EDGE_PUB/32" dev "$LAB_TUNNEL_IF" ;;
	tunnel-all)
		lab_route laptop "$LAB_VPNGW_PUB/32" via 10.254.1.1 dev eth0
		lab_route laptop 0.0.0.0/1 dev "$LAB_TUNNEL_IF"
		lab_route laptop 128.0.0.0/1 dev "$LAB_TUNNEL_IF"
		;;
	*) lab_die "lab_split: unknown mode '$1' (split, edge-in-tunnel, tunnel-all)" ;;
	esac
	LAB_SPLIT=$1
	lab_ipv6_tunnel laptop
}

# VPN pool <-> internal subnets, both directions, and VPN-to-VPN: all protocols
# (block), UDP only (udp-only: ICE-TCP host candidates on the tunnel walk around
# it), internal subnets only (vpn-to-vpn: VPN users reach each other, hair-pin),
# IPv4 only (ipv4-only: the block written before the tunnel carried IPv6, the
# corp's IPv6 range forgotten), or nothing (allow). DNS on the VPN view stays
# reachable (split DNS needs it).
lab_vpngw_policy() {
	local proto="" vpn2vpn=drop v6=1
	lab_exec vpngw nft delete table inet iplab-fw 2>/dev/null
	case $1 in
	block) ;;
	ipv4-only) v6="" ;;
	udp-only) proto="meta l4proto udp" ;;
	vpn-to-vpn) vpn2vpn=accept ;;
	allow)
		LAB_POLICY=$1
		return 0
		;;
	*) lab_die "lab_vpngw_policy: unknown policy '$1' (block, udp-only, vpn-to-vpn, ipv4-only, allow)" ;;
	esac
	local in6="" out6=""
	if [ -n "$v6" ]; then
		in6="iifname \"vpn0\" ip6 daddr $LAB6_CORP_NET $proto counter drop"
		out6="oifname \"vpn0\" ip6 saddr $LAB6_CORP_NET $proto counter drop"
	fi
	lab_exec vpngw nft -f - <<-EOF
		table inet iplab-fw {
		  chain forward {
		    type filter hook forward priority filter; policy accept;
		    ct state established,related accept
		    iifname "vpn0" ip daddr $LAB_DNS_VPN meta l4proto { udp, tcp } th dport 53 accept
		    iifname "vpn0" ip daddr $LAB_CORP udp dport $LAB_CHATTER_PORT accept
		    iifname "vpn0" oifname "vpn0" $proto counter $vpn2vpn
		    iifname "vpn0" ip daddr 10.0.0.0/8 $proto counter drop
		    oifname "vpn0" ip saddr 10.0.0.0/8 $proto counter drop
		    $in6
		    $out6
		  }
		}
	EOF
	LAB_POLICY=$1
}

# ---- IPv6, as laptops have it at home ----
# lab_ipv6 off|home|home+vpn. home: each home router gets a prefix delegated
# from 2001:db8::/32 and routes it (no NAT66), behind the stateful firewall a
# home router has (RFC 6092: from the internet, only what the LAN asked for);
# each laptop an address on eth0 and a default route through it. The VPN stays
# IPv4-only, so IPv6 leaves by eth0. home+vpn: the tunnels carry IPv6 too: a
# pool address (ULA) on gpd0, the corp's IPv6 range and the pool routed into it
# (everything, with lab_split tunnel-all), the gateway's side to match (the
# corp LAN in IPv6, its block in both families). IPv6 is enabled only in the
# nodes that need it, while the switch is on; off disables it there again,
# which takes its addresses and routes with it. No DAD: every address is
# usable at once (link-local ones too, which libnice gathers, §15). Each
# laptop's eth0 has a privacy address beside its stable one, as laptops do.
LAB_IPV6_HOME_NODES=(inet home laptop home2 laptop2)
LAB_IPV6_VPN_NODES=(vpngw corp)
lab_ipv6() {
	case $1 in
	off | home | home+vpn) ;;
	*) lab_die "lab_ipv6: unknown mode '$1' (off, home, home+vpn)" ;;
	esac
	[ "$1" = "$LAB_IPV6" ] && return 0
	local t0
	t0=$(date +%s%N)
	lab_ipv6_off
	if [ "$1" != off ]; then
		lab_ipv6_home
		LAB_IPV6=$1
		[ "$1" = home ] || lab_ipv6_vpn
	fi
	lab_log "IPv6 $1 in $((($(date +%s%N) - t0) / 1000000)) ms"
}

lab_addr6() { ip -n "$(lab_ns "$1")" -6 addr replace "$3" dev "$2" nodad; }
lab_route6() {
	local node=$1
	shift
	ip -n "$(lab_ns "$node")" -6 route replace "$@"
}
# IPv6 on (on) or off (off) in a node; no DAD while it is on.
lab_ipv6_node() {
	local dad=0 off=0
	[ "$2" = on ] || { dad=1 && off=1; }
	lab_exec "$1" sh -c "for f in /proc/sys/net/ipv6/conf/*/accept_dad; do echo $dad >\"\$f\"; done"
	lab_sysctl "$1" net.ipv6.conf.all.disable_ipv6=$off net.ipv6.conf.default.disable_ipv6=$off
}

# lab_ipv6_router ROUTER WAN HOST ADDR LAN: ROUTER's eth0 holds WAN/64 on the
# internet's link, its lan0 LAN::1/64; HOST sits at ADDR in LAN::/64; the
# internet routes LAN's /48 to ROUTER.
lab_ipv6_router() {
	local r=$1 wan=$2 host=$3 addr=$4 lan=$5
	lab_addr6 "$r" eth0 "$wan/64"
	lab_route6 "$r" default via "$LAB6_INET"
	lab_addr6 "$r" lan0 "$lan::1/64"
	lab_sysctl "$r" net.ipv6.conf.all.forwarding=1
	lab_exec "$r" nft -f - <<-EOF
		table ip6 iplab6 {
		  chain forward {
		    type filter hook forward priority filter; policy accept;
		    iifname "eth0" oifname "lan0" ct state established,related accept
		    iifname "eth0" oifname "lan0" counter drop
		  }
		}
	EOF
	# As a laptop's OS has it: a privacy address (RFC 8981) beside the stable one.
	lab_sysctl "$host" net.ipv6.conf.eth0.use_tempaddr=2
	ip -n "$(lab_ns "$host")" -6 addr replace "$addr/64" dev eth0 nodad mngtmpaddr
	lab_route6 "$host" default via "$lan::1"
	lab_route6 inet "${lan%:*}::/48" via "$wan"
}

lab_ipv6_home() {
	local n
	for n in "${LAB_IPV6_HOME_NODES[@]}"; do lab_ipv6_node "$n" on; done
	# Neighbour discovery is multicast: the bridge floods it rather than snoop.
	ip -n "$(lab_ns inet)" link set br0 type bridge mcast_snooping 0
	lab_sysctl inet net.ipv6.conf.all.forwarding=1
	lab_addr6 inet br0 "$LAB6_INET/64"
	lab_ipv6_router home "$LAB6_HOME_WAN" laptop "$LAB6_LAPTOP_LAN" 2001:db8:1:1
	lab_ipv6_router home2 "$LAB6_HOME2_WAN" laptop2 "$LAB6_LAPTOP2_LAN" 2001:db8:2:1
}

lab_ipv6_vpn() {
	local n
	for n in "${LAB_IPV6_VPN_NODES[@]}"; do lab_ipv6_node "$n" on; done
	ip -n "$(lab_ns vpngw)" link set brc type bridge mcast_snooping 0
	lab_sysctl vpngw net.ipv6.conf.all.forwarding=1
	lab_addr6 vpngw vpn0 "$LAB6_VPNGW_VPN/64"
	lab_addr6 vpngw brc fd00:10:1::1/64
	lab_addr6 corp eth0 "$LAB6_CORP/64"
	lab_route6 corp default via fd00:10:1::1
	lab_wg_allowed on
	lab_ipv6_tunnel laptop2
	lab_split "$LAB_SPLIT"
}

# The tunnels' allowed IPs (WireGuard's cryptokey routing) with IPv6 (on) or
# without (off), on both ends.
lab_wg_allowed() {
	local kl k2 kg l6="" l26="" any6=""
	kl=$(wg pubkey <"$LAB_STATE/wg-laptop.key")
	k2=$(wg pubkey <"$LAB_STATE/wg-laptop2.key")
	kg=$(wg pubkey <"$LAB_STATE/wg-gw.key")
	[ "$1" = on ] && l6=,$LAB6_LAPTOP_VPN/128 l26=,$LAB6_LAPTOP2_VPN/128 any6=,::/0
	lab_exec vpngw wg set "$LAB_WG_GW" peer "$kl" allowed-ips "$LAB_LAPTOP_VPN/32$l6" \
		peer "$k2" allowed-ips "$LAB_LAPTOP2_VPN/32$l26"
	lab_exec laptop wg set "$LAB_WG_LAPTOP" peer "$kg" allowed-ips "0.0.0.0/0$any6"
	lab_exec laptop2 wg set "$LAB_WG_LAPTOP2" peer "$kg" allowed-ips "0.0.0.0/0$any6"
}

# A laptop's tunnel in IPv6 (home+vpn): its pool address and what is routed
# into it, again after the link went down (which takes a link's IPv6 addresses
# and routes with it, as a VPN client that reconnects sets them again). The
# corp's range and the pool; everything with lab_split tunnel-all.
lab_ipv6_tunnel() {
	[ "$LAB_IPV6" = home+vpn ] || return 0
	local node=$1 ifname addr=$LAB6_LAPTOP_VPN ns
	ifname=$(lab_vpn_if "$node")
	ns=$(lab_ns "$node")
	[ "$node" = laptop ] || addr=$LAB6_LAPTOP2_VPN
	lab_addr6 "$node" "$ifname" "$addr/128"
	lab_route6 "$node" "$LAB6_CORP_NET" dev "$ifname"
	lab_route6 "$node" "$LAB6_POOL" dev "$ifname"
	ip -n "$ns" -6 route del ::/1 2>/dev/null
	ip -n "$ns" -6 route del 8000::/1 2>/dev/null
	if [ "$node" = laptop ] && [ "${LAB_SPLIT:-split}" = tunnel-all ]; then
		lab_route6 laptop ::/1 dev "$ifname"
		lab_route6 laptop 8000::/1 dev "$ifname"
	fi
}

lab_ipv6_off() {
	[ "$LAB_IPV6" != off ] || return 0
	[ "$LAB_IPV6" != home+vpn ] || lab_wg_allowed off
	local n
	for n in home home2; do lab_exec "$n" nft delete table ip6 iplab6 2>/dev/null; done
	for n in "${LAB_IPV6_HOME_NODES[@]}" "${LAB_IPV6_VPN_NODES[@]}"; do
		lab_sysctl "$n" net.ipv6.conf.all.forwarding=0
		lab_ipv6_node "$n" off
	done
	ip -n "$(lab_ns inet)" link set br0 type bridge mcast_snooping 1
	ip -n "$(lab_ns vpngw)" link set brc type bridge mcast_snooping 1
	LAB_IPV6=off
}

# The other traffic of a laptop's tunnel (iceprobe-chatter): from each VPN laptop
# through its tunnel to the gateway and to the corp host, each echoing it back.
# steady: 400 packets a second to each (800 out, 800 back); bursty: 200 ms of
# every second at 500 a second to each (1,000 out, 1,000 back), silent between;
# off. The corp host's port is one the gateway lets the VPN pool reach (a file
# share's, say: lab_vpngw_policy). Each sender's tally is in chatter-NODE.log.
lab_busy() {
	local node pps
	for node in laptop laptop2; do lab_stop "chatter-$node"; done
	case $1 in
	off)
		LAB_BUSY=off
		return 0
		;;
	steady) pps=400 ;;
	bursty) pps=100 ;;
	*) lab_die "lab_busy: unknown pattern '$1' (steady, bursty, off)" ;;
	esac
	local chatter=${ICEPROBE_CHATTER:?set ICEPROBE_CHATTER to the iceprobe-chatter binary}
	if [ ! -f "$LAB_STATE/chatter-echo-gw.pid" ]; then
		lab_spawn vpngw chatter-echo-gw "$chatter" echo 900 "$LAB_VPNGW_VPN:$LAB_CHATTER_PORT"
		lab_spawn corp chatter-echo-corp "$chatter" echo 900 "$LAB_CORP:$LAB_CHATTER_PORT"
		sleep 0.2
	fi
	for node in laptop laptop2; do
		lab_spawn "$node" "chatter-$node" "$chatter" send 900 "$1" "$pps" \
			"$LAB_VPNGW_VPN:$LAB_CHATTER_PORT" "$LAB_CORP:$LAB_CHATTER_PORT"
	done
	LAB_BUSY=$1
}

# lab_idle_and_busy PATTERN FUNCTION...: each scenario function on the idle
# tunnel, then again with PATTERN's traffic through it (lab_busy), the same
# assertions both times. $LAB_VARIANT ("" or "-PATTERN") names the busy run's files.
LAB_BUSY=off
LAB_VARIANT=""
# lab_dialect rfc8445|ms-ice2: the edge's relay and the probe's profile
# ($LAB_STATE/lab.conf) in that dialect; paired runs use the controller's
# profile of it (lab, or lab-sfb). The other relay is killed at once (coturn
# takes seconds to stop on TERM).
LAB_PROFILE_NAME=lab
lab_dialect() {
	[ "$1" = "${LAB_DIALECT:-rfc8445}" ] && return 0
	lab_edge_down KILL
	LAB_DIALECT=$1
	lab_start_edge
	lab_write_profile "$LAB_STATE/lab.conf"
	[ "$1" = ms-ice2 ] && LAB_PROFILE_NAME=lab-sfb || LAB_PROFILE_NAME=lab
}

# lab_variants PATTERN FN...: each scenario as lab_idle_and_busy runs it, then
# once more in the SfB dialect (MS-ICE2 against the lab's MS-TURN relay) on the
# idle tunnel, as variant "-ms-ice2": the same assertions, and (scenarios.sh,
# paired.sh) the idle RFC run's verdict and codes.
lab_variants() {
	local pattern=$1 fn
	shift
	for fn in "$@"; do
		lab_idle_and_busy "$pattern" "$fn"
		lab_dialect ms-ice2
		LAB_VARIANT=-ms-ice2
		"$fn"
		LAB_VARIANT=""
		lab_dialect rfc8445
	done
}

# lab_ipv6_variants MODE FN...: each scenario once more with IPv6 on
# (lab_ipv6 MODE), on the idle tunnel, as variant "-ipv6": the same assertions,
# and (scenarios.sh, paired.sh) the idle IPv4-only run's verdict and codes.
# IPv6 is switched on once for them all, and off after.
lab_ipv6_variants() {
	local mode=$1 fn
	shift
	lab_ipv6 "$mode"
	for fn in "$@"; do
		LAB_VARIANT=-ipv6
		"$fn"
	done
	LAB_VARIANT=""
	lab_ipv6 off
}

lab_idle_and_busy() {
	local pattern=$1 fn
	shift
	for fn in "$@"; do
		LAB_VARIANT=""
		"$fn"
		lab_busy "$pattern"
		LAB_VARIANT=-$pattern
		"$fn"
		lab_busy off
		LAB_VARIANT=""
	done
}

# Packets the laptop's tunnel carried in SECONDS (default 1), out/in.
lab_tunnel_rate() {
	local d=/sys/class/net/$LAB_TUNNEL_IF/statistics tx0 rx0 tx1 rx1
	read -r tx0 rx0 < <(lab_exec laptop sh -c "cat $d/tx_packets $d/rx_packets | tr '\n' ' '")
	sleep "${1:-1}"
	read -r tx1 rx1 < <(lab_exec laptop sh -c "cat $d/tx_packets $d/rx_packets | tr '\n' ' '")
	echo "$((tx1 - tx0))/$((rx1 - rx0))"
}

# A policy rule the route check cannot see: the laptop's UDP to the edge is
# marked in nftables' output hook and re-routed by the mark into the tunnel
# (masqueraded to the tunnel's address), as a VPN client's "route this
# application's traffic" feature does. `ip route get` still says eth0, and so
# does ICE; only the kernel's egress facts name gpd0. on|off.
lab_mark_edge() {
	lab_exec laptop nft delete table ip iplab-mark 2>/dev/null
	lab_exec laptop ip rule del fwmark 7 table 107 2>/dev/null
	lab_exec laptop ip route flush table 107 2>/dev/null
	case $1 in
	off)
		LAB_MARK=off
		lab_vpngw_internet "$LAB_INTERNET"
		return 0
		;;
	on) ;;
	*) lab_die "lab_mark_edge: unknown mode '$1' (on, off)" ;;
	esac
	LAB_MARK=on
	lab_vpngw_internet "$LAB_INTERNET"
	# The marked flows leave the tunnel from ports no socket of the laptop binds
	# (above ip_local_port_range), so the gateway passes them to the internet
	# and nothing else of the pool: the tunnel's own candidates stay blocked.
	lab_exec laptop nft -f - <<-EOF
		table ip iplab-mark {
		  chain out {
		    type route hook output priority mangle;
		    ip saddr $LAB_LAPTOP_LAN ip daddr $LAB_EDGE_PUB meta l4proto udp meta mark set 7
		  }
		  chain post {
		    type nat hook postrouting priority srcnat;
		    oifname "$LAB_TUNNEL_IF" ip saddr $LAB_LAPTOP_LAN meta l4proto udp masquerade to :$LAB_MARKED_PORTS
		  }
		}
	EOF
	lab_exec laptop ip route add default dev "$LAB_TUNNEL_IF" table 107
	lab_exec laptop ip rule add fwmark 7 table 107 priority 107
}

lab_vpngw_internet() {
	lab_exec vpngw nft delete table ip iplab-inet 2>/dev/null
	case $1 in
	block)
		local marked=""
		[ "${LAB_MARK:-off}" = on ] && marked="udp sport != $LAB_MARKED_PORTS"
		lab_exec vpngw nft -f - <<-EOF
			table ip iplab-inet {
			  chain forward {
			    type filter hook forward priority filter; policy accept;
			    iifname "vpn0" oifname "eth0" $marked counter drop
			  }
			  chain post {
			    type nat hook postrouting priority srcnat;
			    oifname "eth0" ip saddr $LAB_LAPTOP_VPN udp sport $LAB_MARKED_PORTS masquerade
			  }
			}
		EOF
		;;
	nat)
		lab_exec vpngw nft -f - <<-EOF
			table ip iplab-inet {
			  chain post {
			    type nat hook postrouting priority srcnat;
			    oifname "eth0" ip saddr 100.64.0.0/10 masquerade
			  }
			}
		EOF
		;;
	*) lab_die "lab_vpngw_internet: unknown mode '$1' (block, nat)" ;;
	esac
	LAB_INTERNET=$1
}

lab_dns_vpn_view() {
	case $1 in
	right) lab_dns_write vpn "$LAB_EDGE_PUB" ;;
	internal) lab_dns_write vpn "$LAB_EDGE_INT" 10.1.0.9 10.1.0.11 ;;
	*) lab_die "lab_dns_vpn_view: unknown view '$1' (right, internal)" ;;
	esac
	# Until dnsmasq says it read the file again (its log line per read), 2 s at most.
	local log=$LAB_STATE/dns-vpn.log reads i
	reads=$(grep -c "read $LAB_STATE/dns-vpn.hosts" "$log" 2>/dev/null)
	reads=${reads:-0}
	kill -HUP "$(cat "$LAB_STATE/dns-vpn.pid")"
	for i in $(seq 100); do
		[ "$(grep -c "read $LAB_STATE/dns-vpn.hosts" "$log" 2>/dev/null)" -gt "$reads" ] 2>/dev/null && break
		sleep 0.02
	done
}

lab_rename_tunnel() {
	local ns
	ns=$(lab_ns laptop)
	ip -n "$ns" link set "$LAB_TUNNEL_IF" down
	ip -n "$ns" link set "$LAB_TUNNEL_IF" name "$1"
	ip -n "$ns" link set "$1" up
	LAB_TUNNEL_IF=$1
	lab_split "$LAB_SPLIT"
}

lab_edge_udp() {
	lab_exec edge nft delete table ip iplab-udp 2>/dev/null
	case $1 in
	block)
		lab_exec edge nft -f - <<-EOF
			table ip iplab-udp {
			  chain in {
			    type filter hook input priority filter; policy accept;
			    iifname "eth0" ip daddr $LAB_EDGE_PUB meta l4proto udp counter drop
			  }
			}
		EOF
		;;
	allow) ;;
	*) lab_die "lab_edge_udp: unknown mode '$1' (block, allow)" ;;
	esac
}

# [KILL]: a crash, not a shutdown
lab_edge_down() { lab_stop "$([ "${LAB_DIALECT:-rfc8445}" = ms-ice2 ] && echo msturn || echo coturn)" "${1:-TERM}"; }

# The edge's route to the branch subnet (seed 003: without it, IM works but audio
# and video between the branch and external users fail).
lab_edge_route_branch() {
	case $1 in
	on) lab_route edge "$LAB_BRANCH_NET" via 10.1.0.1 ;;
	off) ip -n "$(lab_ns edge)" route del "$LAB_BRANCH_NET" 2>/dev/null ;;
	*) lab_die "lab_edge_route_branch: unknown mode '$1' (on, off)" ;;
	esac
}

# Wait until a node listens on a port (proto udp|tcp).
# The laptop's home link through the impairment instrument: up is the laptop's
# traffic to the internet, down the way back (tests/lab/tools/impair.c for SPEC).
# This kernel has NFQUEUE as an xtables target only (CONFIG_NFT_QUEUE is not
# set; nft_compat carries it), so the rules are iptables-nft's. They count each
# direction's packets (lab_impair_counts) and fail open (bypass).
lab_impair() {
	lab_stop impair
	local rule
	for rule in "-i lan0 -o eth0 -j NFQUEUE --queue-num 0 --queue-bypass" \
		"-i eth0 -o lan0 -j NFQUEUE --queue-num 1 --queue-bypass"; do
		# shellcheck disable=SC2086
		lab_exec home iptables -D FORWARD $rule 2>/dev/null
	done
	[ "$1" = off ] && return 0
	local up=$1 down=$2 seed=${3:-1}
	lab_spawn home impair "${ICEPROBE_IMPAIR:?set ICEPROBE_IMPAIR to iceprobe-impair}" \
		--up "$up" --down "$down" --seed "$seed" --log "$LAB_STATE/impair.tsv"
	# The program binds its queues before the rules send anything there.
	local i
	for i in $(seq 50); do
		grep -q "iceprobe-impair: up" "$LAB_STATE/impair.log" 2>/dev/null && break
		sleep 0.05
	done
	lab_exec home iptables -A FORWARD -i lan0 -o eth0 -j NFQUEUE --queue-num 0 --queue-bypass
	lab_exec home iptables -A FORWARD -i eth0 -o lan0 -j NFQUEUE --queue-num 1 --queue-bypass
}

# "up_packets down_packets" the rules have sent to the instrument so far.
lab_impair_counts() {
	lab_exec home iptables -L FORWARD -v -x -n |
		awk '/NFQUEUE num 0/ {u = $1} /NFQUEUE num 1/ {d = $1} END {print u + 0, d + 0}'
}

lab_wait_listen() {
	local node=$1 proto=$2 port=$3 flag i
	[ "$proto" = udp ] && flag=-Huln || flag=-Htln
	for i in $(seq 100); do
		lab_exec "$node" ss "$flag" "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	lab_die "nothing listens on $proto/$port in $node"
}

# The [edge] credentials in the lab's dialect: TURN REST and the edge's TLS
# certificate (coturn), or the MRAS answer (the MS-TURN relay: no certificate).
lab_profile_credentials() {
	if [ "${LAB_DIALECT:-rfc8445}" = ms-ice2 ]; then
		printf 'turn = ms-turn\nmras_response_file = %s\n' "$LAB_STATE/mras.xml"
	else
		printf 'secret_file = %s\ntls_ca_file = %s\ntls_pin_sha256 = %s\n' "$LAB_STATE/turn.secret" \
			"$LAB_STATE/pki/ca.pem" "$(cat "$LAB_STATE/pki/edge.sha256")"
	fi
}

# Write the lab's probe profile (edge, secret, CA, ranges) to PATH.
lab_write_profile() {
	cat >"$1" <<-EOF2
		[profile]
		name = ${2:-lab}
		description = the lab's laptop against its edge

		[edge]
		host = $LAB_EDGE_NAME
		expected_addresses = $LAB_EDGE_PUB
		udp_port = 3478
		tcp_port = 3478
		tls_port = 443
		$(lab_profile_credentials)

		[network]
		internal_ranges = 10.0.0.0/8; $LAB6_CORP_NET
		vpn_ranges = 100.64.0.0/10; $LAB6_POOL

		[dns]
		names = sip.corp.example=203.0.113.9;meet.corp.example=203.0.113.11

		[stream]
		duration_s = ${LAB_STREAM_S:-2}
	EOF2
	# LAB_NOMINATION: [ice] nomination (aggressive, regular, or both).
	[ -z "${LAB_NOMINATION:-}" ] || printf '\n[ice]\nnomination = %s\n' "$LAB_NOMINATION" >>"$1"
}

# A decrypting middlebox on the home router: TLS to the edge's 443 is answered
# with the middlebox's own certificate and re-encrypted towards the edge.
lab_tls_intercept() {
	lab_exec home nft delete table ip iplab-mitm 2>/dev/null
	lab_stop mitm
	case $1 in
	on)
		lab_spawn home mitm socat \
			"OPENSSL-LISTEN:8443,bind=10.254.1.1,reuseaddr,fork,cert=$LAB_STATE/pki/mitm.pem,key=$LAB_STATE/pki/mitm.key,verify=0" \
			"OPENSSL:$LAB_EDGE_PUB:443,verify=0"
		lab_wait_listen home tcp 8443
		lab_exec home nft -f - <<-EOF2
			table ip iplab-mitm {
			  chain pre {
			    type nat hook prerouting priority dstnat;
			    iifname "lan0" ip daddr $LAB_EDGE_PUB tcp dport 443 dnat to 10.254.1.1:8443
			  }
			}
		EOF2
		;;
	off) ;;
	*) lab_die "lab_tls_intercept: unknown mode '$1' (on, off)" ;;
	esac
}

# ---- The controller and its agents in the lab ----
# lab_controller_start: iceprobe-controller in the ctl node, HTTPS with a
# certificate from the lab's CA (plain HTTP in the sanitizer build, see
# tests/controller/helpers.sh), its files in $LAB_STATE/ctl, the lab profile
# known as "lab". Sets LAB_CTL_URL and LAB_ADMIN.
lab_controller_start() {
	local d=$LAB_STATE/ctl scheme=https
	[ "${ICEPROBE_SANITIZE:-none}" = none ] || scheme=http
	chmod 711 "$LAB_STATE"
	mkdir -p "$d/profiles" "$d/state"
	cp "$LAB_STATE/pki/ca.pem" "$d/ca.pem"
	openssl rand -hex 32 >"$d/admin.token"
	cp "$LAB_STATE/turn.secret" "$d/turn.secret"
	cp "$LAB_STATE/mras.xml" "$d/mras.xml"
	LAB_DIALECT=rfc8445 lab_write_profile "$d/profiles/lab.conf"
	sed -i -e "s|^secret_file = .*|secret_file = $d/turn.secret|" \
		-e "s|^tls_ca_file = .*|tls_ca_file = $d/ca.pem|" "$d/profiles/lab.conf"
	# The SfB dialect's profile (lab_dialect ms-ice2 runs it): the controller
	# hands its runs the MRAS set of [turn] mras_response_file.
	LAB_DIALECT=ms-ice2 lab_write_profile "$d/profiles/lab-sfb.conf" lab-sfb
	sed -i "/^mras_response_file = /d" "$d/profiles/lab-sfb.conf"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$LAB_CTL" \
		-keyout "$d/controller.key" -out "$d/controller.csr" 2>/dev/null
	printf 'subjectAltName=IP:%s,IP:%s,DNS:%s\n' "$LAB_CTL" "$LAB_CTL2" "$LAB_CTL_NAME" >"$d/san.ext"
	openssl x509 -req -in "$d/controller.csr" -CA "$LAB_STATE/pki/ca.pem" -CAkey "$LAB_STATE/pki/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/san.ext" -out "$d/controller.crt" 2>/dev/null ||
		lab_die "cannot sign the controller's certificate"
	{
		printf '[server]\nlisten = %s:8443\n' "$LAB_CTL"
		if [ $scheme = https ]; then
			printf 'tls_cert_file = controller.crt\ntls_key_file = controller.key\nuser = nobody\n'
		else
			printf 'allow_plain_http = true\n'
		fi
		if [ -n "${LAB_PG_URL:-}" ]; then
			printf '[store]\nurl = %s\n' "$LAB_PG_URL"
		else
			printf '[store]\npath = state/controller.db\n'
		fi
		printf '[auth]\nadmin_token_file = admin.token\n'
		printf 'status_public = true\n[turn]\nsecret_file = turn.secret\nmras_response_file = mras.xml\n'
		printf '[profiles]\ndir = profiles\n'
		printf '[scheduler]\norder_timeout_s = 30\nsetup_s = 60\nlongpoll_s = 10\n'
		printf '%s\n' "${LAB_CTL_EXTRA[@]}"
	} >"$d/controller.conf"
	chmod 755 "$d" "$d/profiles"
	chmod 644 "$d"/*.pem "$d"/profiles/*.conf
	chown -R nobody "$d/state" "$d/turn.secret" "$d/mras.xml" "$d/controller.key" "$d/admin.token"
	LAB_CTL_URL=$scheme://$LAB_CTL:8443
	LAB_ADMIN=$(cat "$d/admin.token")
	lab_controller_serve
}

# Starts (or restarts) the configured controller and waits until it answers.
lab_controller_serve() {
	lab_stop controller
	lab_spawn ctl controller "$ICEPROBE_CONTROLLER" serve --config "$LAB_STATE/ctl/controller.conf"
	local i
	for i in $(seq 100); do
		lab_exec ctl curl -s -o /dev/null --cacert "$LAB_STATE/ctl/ca.pem" "$LAB_CTL_URL/metrics" && return 0
		sleep 0.1
	done
	lab_die "the controller did not start: $(tail -5 "$LAB_STATE/controller.log")"
}

# ---- Several controllers on one PostgreSQL (the fleet) ----
# lab_postgres_start: a PostgreSQL server of the lab's own (run as postgres,
# stopped by its PID with the lab), its data in $LAB_STATE/pg, a Unix socket
# there only: no TCP. The first start makes the cluster and the database.
# Sets LAB_PG_URL, which lab_controller_start then uses as the store.
lab_postgres_start() {
	local d=$LAB_STATE/pg bindir i
	bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -n "$bindir" ] && [ -x "$bindir/postgres" ] || lab_die "no PostgreSQL server (apt-get install postgresql)"
	chmod 711 "$LAB_STATE" # the postgres user passes through
	if [ ! -d "$d/data" ]; then
		mkdir -p "$d"
		chown postgres "$d"
		chmod 755 "$d"
		setpriv --reuid=postgres --regid=postgres --init-groups "$bindir/initdb" -D "$d/data" -A trust \
			-U iceprobe --no-sync -E UTF8 >"$LAB_STATE/initdb.log" 2>&1 ||
			lab_die "initdb failed: $(tail -3 "$LAB_STATE/initdb.log")"
	fi
	lab_spawn ctl postgres setpriv --reuid=postgres --regid=postgres --init-groups \
		"$bindir/postgres" -D "$d/data" -c listen_addresses= -c unix_socket_directories="$d" \
		-c fsync=off -c full_page_writes=off
	for i in $(seq 100); do
		"$bindir/pg_isready" -q -h "$d" && break
		sleep 0.1
	done
	"$bindir/pg_isready" -q -h "$d" || lab_die "PostgreSQL did not start: $(tail -5 "$LAB_STATE/postgres.log")"
	"$bindir/psql" -h "$d" -U iceprobe -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'iceprobe'" |
		grep -q 1 || "$bindir/createdb" -h "$d" -U iceprobe iceprobe || lab_die "createdb failed"
	LAB_PG_URL="postgresql:///iceprobe?host=$d&user=iceprobe"
}
# A fast shutdown (SIGINT): the server goes at once, its clients with it.
lab_postgres_stop() { lab_stop postgres INT; }
# A database that hangs (a host or a disk that stops, a partition): the server
# and every process of it stopped (SIGSTOP), its connections open, the kernel
# still taking what clients send, nothing answered. _thaw lets them go on; the
# teardown thaws them first, so that none is left stopped.
lab_postgres_freeze() {
	local pid
	pid=$(cat "$LAB_STATE/postgres.pid") || return 1
	[ "$(ps -o comm= -p "$pid")" = postgres ] || lab_die "PID $pid is not PostgreSQL's server"
	kill -STOP "$pid" # first, so that it starts no process while its own are listed
	{
		echo "$pid"
		pgrep -P "$pid"
	} >"$LAB_STATE/postgres.frozen"
	# shellcheck disable=SC2046
	kill -STOP $(cat "$LAB_STATE/postgres.frozen")
}
lab_postgres_thaw() {
	[ -f "$LAB_STATE/postgres.frozen" ] || return 0
	# shellcheck disable=SC2046
	kill -CONT $(cat "$LAB_STATE/postgres.frozen") 2>/dev/null
	rm -f "$LAB_STATE/postgres.frozen"
}

# lab_controller2_serve: a second controller on the same store and files,
# listening on LAB_CTL2 (the ctl node's second address). Sets LAB_CTL2_URL.
lab_controller2_serve() {
	local d=$LAB_STATE/ctl i
	ip -n "$(lab_ns ctl)" addr show dev eth0 | grep -q "inet $LAB_CTL2/" || lab_addr ctl eth0 "$LAB_CTL2/24"
	sed "s|^listen = .*|listen = $LAB_CTL2:8443|" "$d/controller.conf" >"$d/controller2.conf"
	LAB_CTL2_URL=${LAB_CTL_URL%%://*}://$LAB_CTL2:8443
	lab_stop controller2
	lab_spawn ctl controller2 "$ICEPROBE_CONTROLLER" serve --config "$d/controller2.conf"
	for i in $(seq 100); do
		lab_exec ctl curl -s -o /dev/null --cacert "$d/ca.pem" "$LAB_CTL2_URL/metrics" && return 0
		sleep 0.1
	done
	lab_die "the second controller did not start: $(tail -5 "$LAB_STATE/controller2.log")"
}

# lab_agent_start NODE NAME GROUP: registers an agent and runs `iceprobe agent`
# in NODE as an unprivileged user (nobody), its spool in $LAB_STATE/agent-NAME.
# Its controllers: LAB_AGENT_CONTROLLERS (URLs, space-separated), else LAB_CTL_URL.
lab_agent_start() {
	local node=$1 name=$2 group=$3 d=$LAB_STATE/agent-$2 urls=() ctls=() u
	mkdir -p "$d"
	if [ ! -s "$d/token" ]; then
		"$ICEPROBE_CONTROLLER" agent-add --config "$LAB_STATE/ctl/controller.conf" --name "$name" \
			--group "$group" 2>>"$LAB_STATE/agent-add.log" | tail -n1 >"$d/token" ||
			lab_die "agent-add $name failed: $(cat "$LAB_STATE/agent-add.log")"
	fi
	chown -R nobody "$d"
	chmod 700 "$d"
	read -ra urls <<<"${LAB_AGENT_CONTROLLERS:-$LAB_CTL_URL}"
	for u in "${urls[@]}"; do ctls+=(--controller "$u"); done
	lab_spawn "$node" "agent-$name" setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env HOME="$d" "${LAB_AGENT_ENV[@]}" "$LAB_ICEPROBE_NOBODY" agent "${ctls[@]}" --token-file "$d/token" \
		--ca-file "$LAB_STATE/ctl/ca.pem" --spool "$d/spool" "${LAB_AGENT_ARGS[@]}"
	# It is there once the controller has seen its heartbeat.
	local i
	for i in $(seq 100); do
		lab_api GET /api/v1/agents | jq -e --arg n "$name" \
			'.agents[] | select(.name == $n and .last_seen != null)' >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	lab_die "agent $name did not reach the controller: $(tail -5 "$LAB_STATE/agent-$name.log")"
}

# lab_wait_log FILE PATTERN SECONDS: until a line of FILE matches (grep -E); 1 if none did in time.
lab_wait_log() {
	local i
	for i in $(seq $(($3 * 10))); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# lab_wait_streaming LOG RUN_ID [PATH]: until the agent whose log is LOG says
# PATH's (any path's) media of run RUN_ID flows, at most 20 s; FALSE if not.
lab_wait_streaming() {
	lab_wait_log "$1" "run $2: path ${3:-[a-z-]+} streaming" 20
}

# lab_api METHOD PATH [BODY]: the admin API from the ctl node; prints the body.
lab_api() {
	local args=(-s --cacert "$LAB_STATE/ctl/ca.pem" -X "$1" -H "Authorization: Bearer $LAB_ADMIN")
	[ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	lab_exec ctl curl "${args[@]}" "$LAB_CTL_URL$2"
}

# lab_paired A B OUT: starts a run of the lab profile through the API, waits
# until it has ended (at most LAB_RUN_WAIT_S, 120), writes its document to OUT.
# Sets RUN_ID and RUN_SECONDS (start to verdict).
lab_paired() {
	local a=$1 b=$2 out=$3 t0 state i
	t0=$(date +%s%N)
	RUN_ID=$(lab_api POST /api/v1/runs "{\"profile\": \"$LAB_PROFILE_NAME\", \"a\": \"$a\", \"b\": \"$b\"}" | jq -r .run_id)
	[ -n "$RUN_ID" ] && [ "$RUN_ID" != null ] || {
		echo '{}' >"$out"
		return 1
	}
	for i in $(seq $((${LAB_RUN_WAIT_S:-120} * 5))); do
		lab_api GET "/api/v1/runs/$RUN_ID" >"$out"
		state=$(jq -r .state "$out" 2>/dev/null)
		case $state in done | error) break ;; esac
		sleep 0.2
	done
	RUN_SECONDS=$(echo "scale=1; ($(date +%s%N) - $t0) / 1000000000" | bc)
}
