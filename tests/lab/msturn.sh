#!/usr/bin/env bash
# lab-msturn: the lab's MS-TURN relay (iceprobe-msturn) on the edge, in place of
# coturn, driven by libnice's own MS-TURN client (NICE_COMPATIBILITY_OC2007R2,
# iceprobe-msturn-client) from the laptop (behind the home NAT) and the external
# host (behind its own NAT), with tshark on the edge's public interface:
# allocations over UDP, TCP and pseudo-TLS, media between two allocations
# (Send -> the relayed socket -> the other allocation's Data Indication, then
# raw after Set Active Destination) over UDP, and over TCP and pseudo-TLS
# allocations (TCP relayed addresses: libnice's TCP-ACT/TCP-PASS relay
# candidates, one TCP connection between the two relayed addresses), refusals,
# and every message on the wire decoded by Wireshark's dissectors with nothing
# malformed.
# Exit 0 all checks passed, 1 a check failed, 77 cannot set up (outside CI only).
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"
ASSERT_NAME=lab-msturn

RELAY=${ICEPROBE_MSTURN:?set ICEPROBE_MSTURN to the iceprobe-msturn binary}
CLIENT=${ICEPROBE_MSTURN_CLIENT:?set ICEPROBE_MSTURN_CLIENT to iceprobe-msturn-client}
LUA=${ICEPROBE_MSTURN_LUA:-$(dirname "$0")/msturn-tcp.lua}
if ! command -v tshark >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "lab: FAIL: cannot set up lab-msturn: tshark is missing (apt-get install tshark)" >&2
		exit 1
	fi
	echo "lab: SKIP: cannot set up lab-msturn: tshark is missing (apt-get install tshark)" >&2
	exit 77
fi

# tshark over the capture, with the MS-TURN TCP framing dissector; prints the
# number of packets matching FILTER.
count() { tshark -n -r "$LAB_STATE/msturn.pcap" -X lua_script:"$LUA" -Y "$1" 2>/dev/null | wc -l; }
# The number of MS-TURN messages of TYPE (0x0115) tshark decodes: messages, not
# packets, as one TCP segment can carry several frames.
count_messages() {
	tshark -n -r "$LAB_STATE/msturn.pcap" -X lua_script:"$LUA" -Y "classicstun.type == $1" \
		-T fields -e classicstun.type 2>/dev/null | tr ',' '\n' | grep -ciE "^$1\$"
}
# How many lines of the relay's log match an extended regex.
logged() { grep -cE -- "$1" "$LAB_STATE/msturn-relay.log"; }
# How many match RE before the first line matching STOP (both awk EREs).
logged_before() { awk -v re="$1" -v stop="$2" '$0 ~ stop { exit } $0 ~ re { n++ } END { print n + 0 }' "$LAB_STATE/msturn-relay.log"; }

msturn() {
	local log=$LAB_STATE/msturn-relay.log home=$LAB_HOME_WAN ext=$LAB_EXTNAT_WAN edge=$LAB_EDGE_PUB
	local user pass t out rc
	lab_edge_down # coturn leaves the edge's ports to the relay
	# MRAS credentials are base64 strings; the relay and libnice decode them.
	user=$(printf 'lab-user@%s' "$LAB_TURN_REALM" | base64)
	pass=$(openssl rand -hex 12 | tr -d '\n' | base64)
	printf '%s\n' "$user" >"$LAB_STATE/msturn.user"
	printf '%s\n' "$pass" >"$LAB_STATE/msturn.password"
	lab_spawn edge tshark tshark -n -q -i eth0 -w "$LAB_STATE/msturn.pcap"
	lab_wait_log "$LAB_STATE/tshark.log" "Capturing on" 10 || lab_die "tshark did not start: $(cat "$LAB_STATE/tshark.log")"
	lab_spawn edge msturn "$RELAY" --listen "$edge" --udp 3478 --tcp 3478 --tls 443 --relay-ip "$edge" \
		--realm "$LAB_TURN_REALM" --user-file "$LAB_STATE/msturn.user" \
		--password-file "$LAB_STATE/msturn.password" --log "$log"
	lab_wait_listen edge udp 3478
	lab_wait_listen edge tcp 443
	client() { # NODE ARGS...: the client in NODE against the relay
		local node=$1
		shift
		lab_exec "$node" timeout --foreground 60 "$CLIENT" --server "$edge" --user "$user" "$@"
	}

	section "allocations: libnice's OC2007R2 client over UDP, TCP and pseudo-TLS"
	for t in udp:3478 tcp:3478 tls:443; do
		out=$(client laptop --port "${t#*:}" --transport "${t%%:*}" --password "$pass" --name "gather-${t%%:*}" --timeout 20 2>&1)
		assert_match "over ${t%%:*}, libnice gets a relayed candidate on the edge's address" "$out" "candidate relay $edge:[0-9]+"
		t=${t%%:*}
		assert_gt "over $t, its first Allocate has no credentials: MAGIC-COOKIE first, MS-VERSION" \
			"$(logged "recv $t $home:[0-9]+ Allocate request tid=[0-9a-f]{32} \[MAGIC-COOKIE MS-VERSION=1\]")" 0
		assert_gt "over $t, the relay answers 401 with REALM, NONCE and MS-VERSION, no MESSAGE-INTEGRITY" \
			"$(logged "send $t $home:[0-9]+ Allocate error response tid=[0-9a-f]{32} \[MAGIC-COOKIE ERROR-CODE=401 REALM=\"$LAB_TURN_REALM\" NONCE=\"[0-9a-f]{32}\" MS-VERSION=2\]$")" 0
		assert_gt "over $t, the second carries the decoded MRAS user name, the realm, the nonce and MESSAGE-INTEGRITY" \
			"$(logged "recv $t $home:[0-9]+ Allocate request .*REALM=\"$LAB_TURN_REALM\" NONCE=\"[0-9a-f]{32}\" USERNAME=\"lab-user@$LAB_TURN_REALM\" MESSAGE-INTEGRITY\]")" 0
		assert_gt "over $t, the answer: MAPPED-ADDRESS the relayed address, XOR-MAPPED-ADDRESS the home NAT's, LIFETIME, MS-VERSION, MS-SEQUENCE-NUMBER, signed" \
			"$(logged "send $t $home:[0-9]+ Allocate response .*\[MAGIC-COOKIE MAPPED-ADDRESS=$edge:[0-9]+ XOR-MAPPED-ADDRESS=$home:[0-9]+ LIFETIME=600 MS-VERSION=1 MS-SEQUENCE-NUMBER=0 REALM=\"$LAB_TURN_REALM\" MESSAGE-INTEGRITY\]")" 0
		# The relay logs the release after answering it: wait for the line.
		assert_ok "over $t, closing the agent releases the allocation (LIFETIME 0, or by closing its connection)" \
			lab_wait_log "$log" "allocation $edge:[0-9]+ of $t $home:[0-9]+ released \((LIFETIME 0|its connection closed)\)" 5
	done
	assert_gt "pseudo-TLS: the ClientHello is the fixed one, the ServerHello+ServerHelloDone answer it" \
		"$(logged "send tls $home:[0-9]+ pseudo-TLS ServerHello, ServerHelloDone \(83 bytes\)")" 0
	# libnice 0.1.21: a TCP relay socket under a UDP host candidate is not
	# "reliable", and its frames go out with a 2-byte header and no length
	# (docs/msturn-relay.md). The relay closes such a connection, as 3.1.10 says.
	assert_gt "libnice's frames without a length field are refused and the connection closed (libnice deviation)" \
		"$(logged "connection (tcp|tls) $home:[0-9]+ closed: TCP frame type 0x[0-9a-f]{2}: 0x02 \(control\) or 0x03 \(data\)")" 0

	section "media: the laptop and the external host, each through its own allocation over UDP"
	local x=$LAB_STATE/exchange
	mkdir -p "$x"
	client laptop --port 3478 --transport udp --password "$pass" --name a --peer b --exchange "$x" --count 50 --timeout 45 >"$LAB_STATE/client-a.out" 2>&1 &
	local pa=$!
	client ext --port 3478 --transport udp --password "$pass" --name b --peer a --exchange "$x" --count 50 --timeout 45 >"$LAB_STATE/client-b.out" 2>&1
	rc=$?
	wait "$pa"
	local rca=$?
	assert_eq "the laptop's agent got its data through (exit 0)" "$rca" 0
	assert_eq "the external host's agent got its data through (exit 0)" "$rc" 0
	assert_match "the laptop's selected pair is relay to relay, both on the edge" "$(tr '\n' ' ' <"$LAB_STATE/client-a.out")" \
		"selected local relay $edge:[0-9]+.*selected remote relay $edge:[0-9]+"
	assert_match "the laptop received all 50 of the external host's datagrams" "$(cat "$LAB_STATE/client-a.out")" "received 50 of 50"
	assert_match "the external host received all 50 of the laptop's" "$(cat "$LAB_STATE/client-b.out")" "received 50 of 50"
	assert_gt "Send requests leave from one allocation's relayed socket to the other's" \
		"$(logged "^.{12} msturn: send $edge:[0-9]+ -> $edge:[0-9]+: [0-9]+ bytes$")" 0
	assert_gt "what a relayed socket receives from the other comes to its client as a Data Indication with REMOTE-ADDRESS" \
		"$(logged "send udp ($home|$ext):[0-9]+ Data Indication tid=[0-9a-f]{32} \[MAGIC-COOKIE REMOTE-ADDRESS=$edge:[0-9]+ DATA\([0-9]+ bytes\)\]")" 0
	assert_gt "Send requests carry MS-SEQUENCE-NUMBER and are authenticated" \
		"$(logged "recv udp ($home|$ext):[0-9]+ Send request .*MS-SEQUENCE-NUMBER=[0-9]+ .*MESSAGE-INTEGRITY\]")" 0
	assert_gt "each client sets its peer's relayed address as its active destination, and the relay answers signed" \
		"$(logged "send udp ($home|$ext):[0-9]+ Set Active Destination response tid=[0-9a-f]{32} \[MAGIC-COOKIE MESSAGE-INTEGRITY\]")" 1
	assert_gt "after it, data flows raw both ways (no TURN header)" "$(logged "^.{12} msturn: raw ")" 10
	assert_eq "no Send, Data or Set Active Destination was dropped" \
		"$(logged "drop: (Send|Set Active)")" 0

	# [MS-TURN]: an Allocate over TCP gets a TCP relayed address. libnice 0.1.21
	# (ice-tcp on; force-relay) makes it two relay candidates, TCP-ACT and
	# TCP-PASS on that address, and pairs its TCP-ACT with the other's TCP-PASS;
	# the relay carries the pair as one TCP connection between the two relayed
	# addresses, opened from one of them (bound to its own port) to the other.
	local tr port ra rb pa_port pb_port
	for t in tcp:3478 tls:443; do
		tr=${t%%:*} port=${t#*:}
		section "media over $tr: each agent through its own TCP allocation (ice-tcp, force-relay)"
		mkdir -p "$x/$tr"
		client laptop --port "$port" --transport "$tr" --password "$pass" --name a --peer b --exchange "$x/$tr" --count 50 --timeout 45 >"$LAB_STATE/client-$tr-a.out" 2>&1 &
		pa=$!
		client ext --port "$port" --transport "$tr" --password "$pass" --name b --peer a --exchange "$x/$tr" --count 50 --timeout 45 >"$LAB_STATE/client-$tr-b.out" 2>&1
		rc=$?
		wait "$pa"
		rca=$?
		ra=$(tr '\n' ' ' <"$LAB_STATE/client-$tr-a.out")
		rb=$(tr '\n' ' ' <"$LAB_STATE/client-$tr-b.out")
		assert_eq "over $tr, the laptop's agent got its data through (exit 0)" "$rca" 0
		assert_eq "over $tr, the external host's agent got its data through (exit 0)" "$rc" 0
		assert_match "over $tr, libnice offers the relayed address as a TCP-ACT relay candidate" "$ra" "candidate relay $edge:[0-9]+ tcp-act"
		assert_match "... and as a TCP-PASS one" "$ra" "candidate relay $edge:[0-9]+ tcp-pass"
		assert_match "over $tr, the laptop's selected pair is TCP relay to TCP relay, both on the edge" "$ra" \
			"selected local relay $edge:[0-9]+ tcp-(act|pass) selected remote relay $edge:[0-9]+ tcp-(act|pass)"
		assert_match "over $tr, and so is the external host's" "$rb" \
			"selected local relay $edge:[0-9]+ tcp-(act|pass) selected remote relay $edge:[0-9]+ tcp-(act|pass)"
		assert_match "over $tr, the laptop received all 50 of the external host's datagrams" "$ra" "received 50 of 50"
		assert_match "over $tr, the external host received all 50 of the laptop's" "$rb" "received 50 of 50"
		pa_port=$(printf '%s' "$ra" | grep -oE "selected local relay $edge:[0-9]+" | grep -oE '[0-9]+$')
		pb_port=$(printf '%s' "$rb" | grep -oE "selected local relay $edge:[0-9]+" | grep -oE '[0-9]+$')
		local A=$edge:${pa_port:-none} B=$edge:${pb_port:-none} AB
		AB="($A (->|<-) $B|$B (->|<-) $A)"
		# Until the first of the two allocations goes: once one agent has left,
		# the other's last packets find the relayed address closed (refused).
		local gone="allocation ($A|$B) of $tr [0-9.:]+ (released|expired)"
		assert_eq "over $tr, the allocations are TCP: the first Send request opens a connection between the two relayed addresses" \
			"$(logged_before "peer connection ($A -> $B|$B -> $A) connected" "$gone")" 1
		assert_eq "... which the other relayed address accepts: one connection carries both agents' pairs" \
			"$(logged_before "peer connection ($B <- $A|$A <- $B) accepted" "$gone")" 1
		assert_eq "... the only one opened" "$(logged_before "peer connection ($A|$B) -> .* connecting" "$gone")" 1
		assert_eq "... and none fails or is refused, and no relayed data is dropped" \
			"$(logged_before "peer connection ($A|$B) .* (failed|refused|not opened|waits)|drop: (send|raw) " "$gone")" 0
		assert_gt "... the laptop's Send requests (DATA: its RFC 4571-framed checks) onto it" \
			"$(logged "^.{12} msturn: send $A -> $B: [0-9]+ bytes on tcp$")" 0
		assert_gt "... and the external host's" "$(logged "^.{12} msturn: send $B -> $A: [0-9]+ bytes on tcp$")" 0
		assert_gt "what arrives on it reaches the laptop over $tr as Data Indications with REMOTE-ADDRESS the other relayed address" \
			"$(logged "send $tr $home:[0-9]+ Data Indication tid=[0-9a-f]{32} \[MAGIC-COOKIE REMOTE-ADDRESS=$B DATA\([0-9]+ bytes\)\]")" 0
		assert_gt "... and the external host" \
			"$(logged "send $tr $ext:[0-9]+ Data Indication tid=[0-9a-f]{32} \[MAGIC-COOKIE REMOTE-ADDRESS=$A DATA\([0-9]+ bytes\)\]")" 0
		assert_gt "both set the other's relayed address as active destination over $tr, answered signed" \
			"$(logged "send $tr ($home|$ext):[0-9]+ Set Active Destination response tid=[0-9a-f]{32} \[MAGIC-COOKIE MESSAGE-INTEGRITY\]")" 1
		assert_gt "after it, the clients' 0x03 frames go onto the connection as they are, both ways" \
			"$(logged "^.{12} msturn: raw ($A -> $B|$B -> $A): [0-9]+ bytes on tcp$")" 10
		assert_gt "... and what arrives comes back in 0x03 frames" \
			"$(logged "^.{12} msturn: raw $tr ($home|$ext):[0-9]+ <- ($A|$B) via ($A|$B): [0-9]+ bytes on tcp$")" 10
		assert_gt "when the agents close, the connection closes with the allocations, both ends, nothing left unsent" \
			"$(logged "peer connection $AB closed: (its allocation went|end of stream) \([0-9]+ bytes in, [0-9]+ out, 0 unsent\)")" 1
	done
	assert_eq "no Send or Set Active Destination over TCP was dropped" "$(logged "drop: (Send|Set Active)")" 0
	assert_eq "no connection with a peer was left held (each side sent to the other)" \
		"$(logged "closed: the client never sent to this peer")" 0

	section "expiry: an allocation nobody refreshes or releases goes"
	# A second relay with lifetimes of at most 2 s; its client is killed, so it
	# neither refreshes nor releases.
	lab_spawn edge msturn-short "$RELAY" --listen "$edge" --udp 3479 --max-lifetime 2 --relay-ip "$edge" \
		--realm "$LAB_TURN_REALM" --user-file "$LAB_STATE/msturn.user" \
		--password-file "$LAB_STATE/msturn.password" --log "$LAB_STATE/msturn-short.log"
	lab_wait_listen edge udp 3479
	lab_exec ext timeout -s KILL 4 "$CLIENT" --server "$edge" --port 3479 --transport udp --user "$user" \
		--password "$pass" --name lost --peer nobody --exchange "$x" --timeout 30 >/dev/null 2>&1
	assert_ok "the allocation was granted for 2 s" grep -qE "allocation $edge:[0-9]+ of udp $ext:[0-9]+ created, lifetime 2 s" "$LAB_STATE/msturn-short.log"
	assert_ok "and expired once its client was gone" lab_wait_log "$LAB_STATE/msturn-short.log" "allocation $edge:[0-9]+ of udp $ext:[0-9]+ expired" 5
	# Not a refresh that came late and made a second one: one allocation, none after.
	assert_eq "one allocation only, and none made after it expired" \
		"$(grep -cE "allocation $edge:[0-9]+ of udp $ext:[0-9]+ created" "$LAB_STATE/msturn-short.log")/$(sed -n '/expired/,$p' "$LAB_STATE/msturn-short.log" | grep -c created)" 1/0
	lab_stop msturn-short

	section "refusals"
	out=$(client laptop --port 3478 --transport udp --password "$(printf wrong | base64)" --name wrong --timeout 10 2>&1)
	assert_no_match "a wrong password gets no relayed candidate" "$out" "candidate relay"
	assert_gt "... because the relay answered 431 (MESSAGE-INTEGRITY does not match the user's key)" \
		"$(logged "refuse udp $home:[0-9]+: 431: MESSAGE-INTEGRITY does not match")" 0
	# From port 40000, so that the capture's checks below can tell them apart.
	# From the home router itself (no NAT in the way), port 40000.
	lab_exec home sh -c "printf 'hello, relay' | socat -T1 - UDP4:$edge:3478,sourceport=40000" >/dev/null 2>&1
	# An Allocate whose USERNAME runs 16 bytes past the message's end.
	lab_exec home sh -c "printf '\000\003\000\014AAAAAAAAAAAAAAAA\000\017\000\004\162\306\113\306\000\006\000\020' | socat -T1 - UDP4:$edge:3478,sourceport=40000" >/dev/null 2>&1
	lab_exec home sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | socat -T1 - TCP4:$edge:3478" >/dev/null 2>&1
	lab_exec home sh -c "head -c 64 /dev/zero | socat -T1 - TCP4:$edge:443" >/dev/null 2>&1
	assert_gt "a datagram that is not TURN is refused with a reason" "$(logged "recv udp $home:40000: 12 bytes refused: ")" 0
	assert_gt "a malformed Allocate is answered 400" \
		"$(logged "send udp $home:40000 Allocate error response tid=41414141414141414141414141414141 \[MAGIC-COOKIE ERROR-CODE=400\]")" 0
	assert_gt "HTTP on the TCP port closes the connection, naming the frame type ('G')" \
		"$(logged "connection tcp $home:[0-9]+ closed: TCP frame type 0x47: ")" 0
	assert_gt "zeros on the TLS port close it, naming the ClientHello's first byte" \
		"$(logged "connection tls $home:[0-9]+ closed: pseudo-TLS ClientHello byte 0 is 0x00, not 0x16")" 0
	assert_ok "the relay is still up after all that" kill -0 "$(cat "$LAB_STATE/msturn.pid")"

	section "on the wire: Wireshark's dissectors read every message"
	lab_stop msturn
	assert_gt "the relay stopped cleanly on SIGTERM, releasing what it held" "$(logged "msturn: stopped$")" 0
	sleep 0.5
	lab_stop tshark INT
	local relay_out="ip.src == $edge && (udp.srcport == 3478 || tcp.srcport == 3478 || tcp.srcport == 443)"
	local n_udp_sent n_udp_recv n_logged_sent n_logged_recv
	n_udp_sent=$(count "classicstun && ip.src == $edge && udp.srcport == 3478")
	n_logged_sent=$(logged "send udp [0-9.:]+ (Allocate|Data Indication|Set Active)")
	assert_gt "tshark's classicstun (pre-RFC 5389 STUN) dissector decodes the relay's UDP messages" "$n_udp_sent" 20
	assert_eq "... as many as the relay logged sending over UDP" "$n_udp_sent" "$n_logged_sent"
	n_udp_recv=$(count "classicstun && ip.dst == $edge && udp.dstport == 3478 && udp.srcport != 40000")
	n_logged_recv=$(logged "recv udp ($home|$ext):[0-9]+ (Allocate|Send|Set Active)")
	assert_eq "... and every MS-TURN message libnice sent it over UDP, as many as it logged" "$n_udp_recv" "$n_logged_recv"
	assert_gt "the framed TCP and pseudo-TLS messages decode too" "$(count "classicstun && tcp")" 10
	assert_eq "nothing the relay sent is malformed or an expert error" \
		"$(count "($relay_out) && (_ws.malformed || _ws.expert.severity == error)")" 0
	assert_eq "nothing libnice sent over UDP is malformed" \
		"$(count "classicstun && udp.dstport == 3478 && udp.srcport != 40000 && (_ws.malformed || _ws.expert.severity == error)")" 0
	local bad closed p ok=yes
	bad=$(tshark -n -r "$LAB_STATE/msturn.pcap" -X lua_script:"$LUA" -Y "msturn_tcp.bad && ip.src == $home" -T fields -e tcp.srcport 2>/dev/null | sort -u)
	closed=$(grep -oE "connection (tcp|tls) $home:[0-9]+ closed: (TCP frame type|pseudo-TLS)" "$log" | grep -oE ":[0-9]+ " | tr -d ': ')
	for p in $bad; do printf '%s\n' "$closed" | grep -qx "$p" || ok="no: port $p"; done
	# libnice's connections from UDP host candidates go out unframed (docs/libnice.md §37):
	# there are such connections to find.
	assert_ne "tshark finds unframed TCP connections from the laptop (libnice's from UDP host candidates)" "$bad" ""
	assert_eq "every TCP connection tshark finds unframed is one the relay closed for it" "$ok" yes
	assert_eq "tshark decodes Data Indications as the relay logged them" \
		"$(count_messages 0x0115)" "$(logged "send (udp|tcp|tls) [0-9.:]+ Data Indication")"
	cp "$LAB_STATE/msturn.pcap" "$log" "${ICEPROBE_ARTIFACTS:-/tmp}/" 2>/dev/null
	assert_summary
}

lab_run msturn
