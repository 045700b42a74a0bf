#!/usr/bin/env bash
# The probe's lab scenarios (real iceprobe, real lab). Each changes one thing,
# runs `iceprobe run` in the laptop and asserts the verdict, the exit code, the
# finding codes and the selected pair's egress class from the JSON document.
# Each runs on an idle tunnel, then again with other traffic through it
# (lab_busy), with the same assertions and the idle run's verdict and codes.
# Usage: scenarios.sh GROUP   (paths: a b e g m; edge: c d secret f)
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"
ICEPROBE=${ICEPROBE:?set ICEPROBE to the iceprobe binary}
GROUP=${1:-paths}
export LAB_STREAM_S=${LAB_STREAM_S:-2}

# probe NAME: runs the probe; sets RC, JSON (the document), MS_TAKEN and SECONDS_TAKEN.
# On a busy tunnel (lab_idle_and_busy) it also shows the tunnel was busy: its
# counters during the natural path's stream exceed what the stream sent, so
# the counters alone would have blamed the tunnel.
probe() {
	local name=$1$LAB_VARIANT t0=$(date +%s%N)
	lab_exec laptop env ${PROBE_ENV:-} "$ICEPROBE" run --profile "$LAB_STATE/lab.conf" --json "$LAB_STATE/$name.json" \
		>"$LAB_STATE/$name.txt" 2>&1
	RC=$?
	MS_TAKEN=$((($(date +%s%N) - t0) / 1000000))
	SECONDS_TAKEN=$((MS_TAKEN / 1000))
	JSON=$(cat "$LAB_STATE/$name.json" 2>/dev/null || echo '{}')
	printf '  (%s: exit %s in %s s)\n' "$name" "$RC" "$SECONDS_TAKEN"
	# The pair each dialect selected (docs/sfb.md): natural's, and when it came.
	printf '  pairs: %s %s natural %s, first pair at %s ms; run %s ms\n' "$name" "${LAB_DIALECT:-rfc8445}" \
		"$(q '[.paths[] | select(.name == "natural") | .selected_pair | if . then "\(.local.type)/\(.local.transport)/\(.local.egress_class) -> \(.remote.type)" else "none" end] | first // "none"')" \
		"$(q '[.paths[] | select(.name == "natural") | .timing_ms.connected // "-" | tostring] | first // "-"')" "$MS_TAKEN"
	if [ -n "$LAB_VARIANT" ] && [ -f "$LAB_STATE/$1.json" ]; then
		assert_eq "the same verdict and finding codes as on the idle tunnel" \
			"$(q '"\(.verdict) \([.findings[].code] | unique | join(","))"')" \
			"$(jq -r '"\(.verdict) \([.findings[].code] | unique | join(","))"' "$LAB_STATE/$1.json")"
	fi
	if [ "$LAB_BUSY" != off ] && [ "$(q '[.paths[] | select(.name == "natural") | .tunnel_counters.source] | first')" = interface ]; then
		assert_gt "the tunnel was busy: it counted more packets out during the stream than the stream sent" \
			"$(q '.paths[] | select(.name == "natural") | .tunnel_counters.tx_packets')" \
			"$(q '.paths[] | select(.name == "natural") | .metrics.directions.out.packets_sent')"
	fi
}
q() { printf '%s' "$JSON" | jq -r "$1"; }
codes() { q '[.findings[].code] | unique | join(",")'; }
has_code() { q "[.findings[].code] | index(\"$1\") != null"; }
show_on_failure() { [ "$ASSERT_FAILED" = 0 ] || sed 's/^/    | /' "$LAB_STATE/$1$LAB_VARIANT.txt"; }
# The interface and class of PATH's host candidates at ADDRESS (IPv6, no port),
# from its ICE record.
host_class() {
	q "[.paths[] | select(.name == \"$1\") | .ice.candidates.local[] | select(.type == \"host\") | select(.address | startswith(\"[$2]:\")) |
		\"\(.interface)/\(.interface_class)\"] | unique | join(\",\")"
}

# With IPv6 on (lab_ipv6): the laptop's IPv6 host candidates, classified from
# the kernel's facts as its IPv4 ones are, and the VPN's IPv6 facts.
assert_ipv6_facts() {
	[ "$LAB_IPV6" != off ] || return 0
	assert_eq "IPv6 host candidates were gathered on eth0 and classified physical" \
		"$(host_class natural "$LAB6_LAPTOP_LAN")" eth0/physical
	assert_eq "its privacy address's too (2001:db8:1:1::/64, not the stable one)" \
		"$(q "[.paths[] | select(.name == \"natural\") | .ice.candidates.local[] | select(.type == \"host\") | select(.address | startswith(\"[2001:db8:1:1:\") and (startswith(\"[$LAB6_LAPTOP_LAN]\") | not)) | \"\(.interface)/\(.interface_class)\"] | unique | join(\",\")")" \
		eth0/physical
	if [ "$LAB_IPV6" = home ]; then
		assert_eq "the VPN carries no IPv6: the VPN's facts say so" \
			"$(q '.probes[0].vpn | "\(.pool_address_ipv6) \(.tunnel_ipv6)"')" "null none"
		return 0
	fi
	assert_eq "the tunnel's IPv6 host candidate is classified tunnel" \
		"$(host_class natural "$LAB6_LAPTOP_VPN")" "$LAB_TUNNEL_IF/tunnel"
	assert_eq "tunnel-only offered the tunnel's addresses in both families, nothing else" \
		"$(q '[.paths[] | select(.name == "tunnel-only") | .ice.candidates.local[] | select(.type == "host") | .address | sub(":[0-9]+$"; "")] | unique | join(" ")')" \
		"$LAB_LAPTOP_VPN [$LAB6_LAPTOP_VPN]"
	assert_eq "the VPN's facts: its IPv6 pool address, IPv6 split as IPv4 is" \
		"$(q '.probes[0].vpn | "\(.pool_address_ipv6) \(.tunnel) \(.tunnel_ipv6)"')" "$LAB6_LAPTOP_VPN split split"
}

scenario_a() {
	section "a. split tunnel right, VPN pool blocked from internal subnets and the internet"
	probe a
	assert_eq "verdict pass, exit 0" "$(q .verdict)/$RC" "pass/0"
	assert_eq "no findings" "$(codes)" ""
	assert_eq "the natural path's media egresses a physical interface" \
		"$(q '.paths[] | select(.name == "natural") | .selected_pair.local.egress_class')" physical
	# The paths run at once, so the tunnel's counters hold every path's checks
	# through it; each path's own evidence is the kernel's device per packet.
	if [ "$LAB_BUSY" = off ]; then
		assert_lt "the tunnel carried no media during the stream (tx packets < 20 % of those sent)" \
			"$(q '.paths[] | select(.name == "natural") | .tunnel_counters.tx_packets')" \
			"$(q '.paths[] | select(.name == "natural") | .metrics.directions.out.packets_sent / 5 | floor')"
	fi
	# One after another, the run would take longer than its paths' times
	# together less tunnel-only's (which ran beside relay-tcp): at once, less
	# than half of them.
	assert_lt "the paths ran at once: the whole run took less than half their times together (ms)" \
		"$((MS_TAKEN * 2))" "$(q '[.paths[].timing_ms.total // 0] | add | floor')"
	assert_eq "the kernel named a device for every media packet, none the tunnel (natural, relay-udp)" \
		"$(q '[.paths[] | select(.name == "natural" or .name == "relay-udp") | .tunnel_counters.egress | .media_seen == .media_sent and .media_tunnel == 0] | "\(length) \(all)"')" \
		"2 true"
	assert_eq "media started at the first selected pair, the first in the timeline" \
		"$(q '.paths[] | select(.name == "natural") | (.ice.pair_changes[0].at_ms - .timing_ms.connected) | fabs < 1')" \
		true
	assert_eq "all four paths carried the stream" \
		"$(q '[.paths[] | select(.metrics.packets_received > 0)] | length')" 4
	assert_eq "the tunnel is classified from kernel facts" \
		"$(q '.probes[0].interfaces[] | select(.name == "gpd0") | .class')" tunnel
	assert_eq "the VPN's own facts: product from the name, MTU, pool address, split tunnel, no gateway route" \
		"$(q '.probes[0].vpn | "\(.interface) \(.product) (\(.product_from)) mtu \(.mtu) pool \(.pool_address) \(.in_vpn_ranges) \(.tunnel) gateway \(.gateway)"')" \
		"gpd0 Palo Alto GlobalProtect (PANGP) (gpd*) mtu 1420 pool $LAB_LAPTOP_VPN true split gateway null"
	assert_ipv6_facts
	show_on_failure a
}

scenario_old_kernel() {
	section "a, on a kernel that cannot name a packet's device (ICEPROBE_EGRESS=off): the paths one after another"
	PROBE_ENV=ICEPROBE_EGRESS=off probe a-old-kernel
	assert_eq "verdict pass, exit 0" "$(q .verdict)/$RC" "pass/0"
	assert_eq "no path has egress facts" "$(q '[.paths[].tunnel_counters.egress // empty] | length')" 0
	assert_lt "the tunnel's counters, natural's evidence, saw no media (tx packets < 10 % of those sent)" \
		"$(q '.paths[] | select(.name == "natural") | .tunnel_counters.tx_packets')" \
		"$(q '.paths[] | select(.name == "natural") | .metrics.directions.out.packets_sent / 10 | floor')"
	assert_gt "natural, relay-udp, relay-tcp and relay-tls ran one after another: the run took longer than their times together (ms)" \
		"$MS_TAKEN" "$(q '[.paths[] | select(.name != "tunnel-only") | .timing_ms.total] | add | floor')"
	show_on_failure a-old-kernel
}

scenario_b() {
	section "b. edge's public address routed into the tunnel, gateway NATs the pool to the internet"
	lab_split edge-in-tunnel
	lab_vpngw_internet nat
	probe b
	assert_eq "verdict fail, exit 2" "$(q .verdict)/$RC" "fail/2"
	assert_eq "RELAY_VIA_TUNNEL is found" "$(has_code RELAY_VIA_TUNNEL)" true
	assert_eq "the route check names the tunnel" \
		"$(q '.checks[] | select(.name == "route") | .routes[0].interface')" "$LAB_TUNNEL_IF"
	assert_eq "the natural path's media egresses the tunnel" \
		"$(q '.paths[] | select(.name == "natural") | .selected_pair.local.egress_class')" tunnel
	assert_gt "and the tunnel's counters moved with the stream" \
		"$(q '.paths[] | select(.name == "natural") | .tunnel_counters.tx_packets')" 50
	assert_eq "the kernel sent every media packet of natural and relay-udp through the tunnel" \
		"$(q '[.paths[] | select(.name == "natural" or .name == "relay-udp") | .tunnel_counters.egress | .media_sent > 50 and .media_tunnel == .media_sent] | "\(length) \(all)"')" \
		"2 true"
	assert_gt "relay-tcp, counted on its own connection while tunnel-only ran beside it, crossed the tunnel" \
		"$(q '.paths[] | select(.name == "relay-tcp" and .tunnel_counters.source == "connection" and .tunnel_counters.counted_by == "TCP_INFO") | .tunnel_counters.tx_packets')" 50
	assert_eq "the advice is the split-tunnel exclusion (the route to the edge is the tunnel)" \
		"$(q '[.findings[] | select(.code == "RELAY_VIA_TUNNEL") | .message | test("split-tunnel exclusion for")] | all')" true
	show_on_failure b
	lab_split split
	lab_vpngw_internet block
}

scenario_e() {
	section "e. the tunnel renamed to something no pattern matches"
	lab_rename_tunnel corpvpn3
	probe e
	assert_eq "corpvpn3 is still classified as a tunnel" \
		"$(q '.probes[0].interfaces[] | select(.name == "corpvpn3") | .class')" tunnel
	assert_eq "verdict pass (the configuration is still right)" "$(q .verdict)/$RC" "pass/0"
	assert_ipv6_facts
	lab_split edge-in-tunnel
	lab_vpngw_internet nat
	probe e2
	assert_eq "and media through it is still caught: MEDIA_VIA_TUNNEL" "$(has_code MEDIA_VIA_TUNNEL)" true
	assert_eq "with the renamed tunnel as egress" \
		"$(q '.paths[] | select(.name == "natural") | .selected_pair.local.egress_interface')" corpvpn3
	show_on_failure e2
	lab_split split
	lab_vpngw_internet block
}

scenario_g() {
	section "g. split tunnel right, but the gateway passes the pool to the edge (NAT to the internet)"
	lab_vpngw_internet nat
	LAB_NOMINATION="aggressive;regular" lab_write_profile "$LAB_STATE/lab.conf"
	probe g
	lab_write_profile "$LAB_STATE/lab.conf"
	assert_eq "both clients emulated: natural (aggressive) and natural-regular" \
		"$(q '[.paths[] | select(.name | startswith("natural")) | .ice.nomination] | join(",")')" \
		"aggressive,regular"
	assert_eq "verdict fail, exit 2" "$(q .verdict)/$RC" "fail/2"
	assert_eq "the route check passes: the edge is excluded from the tunnel" \
		"$(q '.checks[] | select(.name == "route") | .verdict')" pass
	assert_eq "tunnel-only connects through the tunnel: TUNNEL_PATH_OPEN, whatever natural selected" \
		"$(has_code TUNNEL_PATH_OPEN)" true
	assert_eq "its pair is the tunnel's host candidate" \
		"$(q '.paths[] | select(.name == "tunnel-only") | .selected_pair.local.interface_class')" tunnel
	assert_eq "every tunnel finding names the gateway as the cause" \
		"$(q '[.findings[] | select(.code | test("TUNNEL")) | .evidence.cause == "gateway-passes-pool"] | all')" true
	assert_eq "and none advises a split-tunnel exclusion" \
		"$(q '[.findings[] | .message | test("Add a split-tunnel exclusion")] | any')" false
	assert_eq "relay-tcp and relay-tls, counted on their own connections, saw no tunnel traffic" \
		"$(q '[.paths[] | select(.name | test("relay-t")) | .tunnel_counters | .source == "connection" and .tx_packets == 0] | all')" true
	show_on_failure g
	lab_vpngw_internet block
}

scenario_m() {
	section "m. a firewall mark re-routes UDP to the edge into the tunnel (route check and ICE say eth0)"
	lab_mark_edge on
	probe m
	assert_eq "verdict fail, exit 2" "$(q .verdict)/$RC" "fail/2"
	assert_eq "the route check passes: the unmarked route to the edge is eth0" \
		"$(q '.checks[] | select(.name == "route") | .verdict')" pass
	assert_eq "ICE's own facts say natural's media leaves eth0" \
		"$(q '.paths[] | select(.name == "natural") | .selected_pair.local.egress_interface')" eth0
	assert_eq "MEDIA_VIA_TUNNEL (natural) and RELAY_VIA_TUNNEL (relay-udp)" \
		"$(has_code MEDIA_VIA_TUNNEL)/$(has_code RELAY_VIA_TUNNEL)" true/true
	assert_match "on the kernel's word for each media packet" \
		"$(q '[.findings[] | select(.code == "MEDIA_VIA_TUNNEL") | .message] | first')" \
		"the kernel sent [0-9]+ of its [0-9]+ media packets through $LAB_TUNNEL_IF"
	assert_eq "the cause is a policy rule past the routing table, on both findings" \
		"$(q '[.findings[] | select(.code | test("VIA_TUNNEL")) | .evidence.cause] | unique | join(",")')" \
		policy-routed
	assert_eq "relay-tcp and relay-tls (not marked) pass on their own connections" \
		"$(q '[.paths[] | select(.name | test("relay-t")) | .verdict] | join(",")')" pass,pass
	show_on_failure m
	lab_mark_edge off
}

scenario_c() {
	section "c. UDP to the edge dropped"
	lab_edge_udp block
	probe c
	assert_eq "verdict warn, exit 1" "$(q .verdict)/$RC" "warn/1"
	assert_eq "UDP_RELAY_BLOCKED and TCP_RELAY_ONLY" "$(codes)" "TCP_RELAY_ONLY,UDP_RELAY_BLOCKED"
	assert_eq "the natural path is a TURN-over-TCP relay from a physical interface" \
		"$(q '.paths[] | select(.name == "natural") | "\(.selected_pair.local.type)/\(.selected_pair.local.transport)/\(.selected_pair.local.egress_class)"')" \
		relay/tcp/physical
	# The ICE record says why the UDP relay lost: libnice's Allocates over UDP
	# went unanswered, while the pair of the TCP relay candidate succeeded and
	# was the one nominated.
	local natural='.paths[] | select(.name == "natural") | .ice' failed=$ASSERT_FAILED sel
	sel=$(q '.paths[] | select(.name == "natural") | .selected_pair.local.address')
	assert_match "the record gives up the TURN UDP allocation, and says why: no answer" \
		"$(q "[$natural | .given_up[] | select(.transport == \"udp\") | \"\(.what): \(.why)\"] | join(\" | \")")" \
		"TURN UDP allocation: .*no answer to [0-9]+ Allocate request"
	assert_eq "no relay candidate came from the UDP TURN server" \
		"$(q "[$natural | .candidates.local[] | select(.type == \"relay\" and .relay_transport == \"udp\")] | length")" 0
	assert_eq "the selected pair is one libnice nominated, and its check succeeded" \
		"$(q "[$natural | .pairs[] | select(.nominated and .state == \"succeeded\") | .local] | index(\"relay $sel/tcp\") != null")" \
		true
	assert_match "its relay candidate came from the TCP or TLS TURN server" \
		"$(q "[$natural | .candidates.local[] | select(.type == \"relay\" and .address == \"$sel\") | .relay_transport] | first")" \
		'^(tcp|tls)$'
	[ "$ASSERT_FAILED" = "$failed" ] ||
		q "$natural | {given_up, pairs: [.pairs[] | select(.nominated or .state == \"succeeded\")]}" | sed 's/^/    | /'
	show_on_failure c
	lab_edge_udp allow
}

scenario_d() {
	section "d. TLS on 443 answered by a decrypting middlebox's certificate"
	lab_tls_intercept on
	probe d
	assert_eq "verdict fail, exit 2" "$(q .verdict)/$RC" "fail/2"
	assert_eq "TLS_INTERCEPTED is found" "$(has_code TLS_INTERCEPTED)" true
	assert_eq "its evidence carries the presented certificate's fingerprint" \
		"$(q '.findings[] | select(.code == "TLS_INTERCEPTED") | .evidence.sha256')" \
		"$(openssl x509 -in "$LAB_STATE/pki/mitm.pem" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)"
	show_on_failure d
	lab_tls_intercept off
}

scenario_secret() {
	section "the edge refuses our credentials (wrong TURN secret; MS-TURN: a wrong MRAS password)"
	cp "$LAB_STATE/lab.conf" "$LAB_STATE/good.conf"
	echo wrong-secret >"$LAB_STATE/wrong.secret"
	sed -i "s|^secret_file = .*|secret_file = $LAB_STATE/wrong.secret|" "$LAB_STATE/lab.conf"
	sed "s|<password>.*</password>|<password>$(printf wrong | base64)</password>|" "$LAB_STATE/mras.xml" \
		>"$LAB_STATE/wrong-mras.xml"
	sed -i "s|^mras_response_file = .*|mras_response_file = $LAB_STATE/wrong-mras.xml|" "$LAB_STATE/lab.conf"
	probe secret
	assert_eq "verdict fail, RELAY_UNREACHABLE" "$(q .verdict)/$(has_code RELAY_UNREACHABLE)" fail/true
	# MS-TURN answers the wrong key's MESSAGE-INTEGRITY 431 ([MS-TURN] 3.3.5.1)
	local code=401
	[ "${LAB_DIALECT:-rfc8445}" = ms-ice2 ] && code=431
	assert_match "the TURN check names the $code and the edge's realm" \
		"$(q '.checks[] | select(.name == "turn-udp") | .reason')" "$code .*realm '$LAB_TURN_REALM'.*refused"
	assert_eq "with the error code in the record" \
		"$(q '.checks[] | select(.name == "turn-tcp") | .error_code')" $code
	cp "$LAB_STATE/good.conf" "$LAB_STATE/lab.conf"
	[ "${LAB_DIALECT:-rfc8445}" = ms-ice2 ] || return 0

	section "MS-TURN: the MRAS answer has lapsed (issued 9 hours ago for 8)"
	printf 'mras_issued_at = %s\n' "$(date -u -d '9 hours ago' +%Y-%m-%dT%H:%M:%SZ)" >"$LAB_STATE/issued"
	sed -i "/^mras_response_file = /r $LAB_STATE/issued" "$LAB_STATE/lab.conf"
	probe lapsed
	assert_eq "verdict error, exit 3" "$(q .verdict)/$RC" error/3
	assert_match "the error names when the credentials lapsed" "$(q .error)" \
		"MRAS credentials expired at [0-9-]+T[0-9:]+Z \\(60 min ago"
	assert_eq "before any check ran" "$(q '.checks | length')" 0
	cp "$LAB_STATE/good.conf" "$LAB_STATE/lab.conf"
}

scenario_r() {
	section "r. Microsoft 365's Optimize prefixes (its endpoints document) split out, then routed into the tunnel"
	cp "$LAB_STATE/lab.conf" "$LAB_STATE/good.conf"
	cp "${ICEPROBE_SOURCE_ROOT:?}/tests/unit/data/m365-endpoints.json" "$LAB_STATE/m365.json"
	printf '\n[routes]\nmust_bypass = 198.51.100.128/25 udp:3478-3481\nendpoints_file = %s\n' \
		"$LAB_STATE/m365.json" >>"$LAB_STATE/lab.conf"
	probe r
	assert_eq "verdict pass, no findings" "$(q .verdict)/$(codes)" pass/
	if [ "$LAB_IPV6" = off ]; then
		assert_eq "the routes check passes: every IPv4 prefix split out (IPv6: no route on this laptop)" \
			"$(q '[.checks[] | select(.name == "routes") | .verdict, ([.prefixes[].label] | unique | join(","))] | join(" ")')" \
			"pass no route,split out"
	else
		assert_eq "the routes check passes: every prefix split out, IPv6's by the home's IPv6 route" \
			"$(q '[.checks[] | select(.name == "routes") | .verdict, ([.prefixes[].label] | unique | join(","))] | join(" ")')" \
			"pass split out"
	fi
	assert_eq "41 prefixes judged: the profile's and the document's Optimize ones" \
		"$(q '.checks[] | select(.name == "routes") | .prefixes | length')" 41
	# Part of Teams' range and all of another into the tunnel; and a VPN client's
	# policy rule that takes UDP 3478-3481 to the profile's prefix into it (a
	# route check without the port would not see it).
	lab_exec laptop ip route add 52.112.0.0/16 dev "$LAB_TUNNEL_IF"
	lab_exec laptop ip route add 13.107.64.0/18 dev "$LAB_TUNNEL_IF"
	lab_exec laptop ip route add default dev "$LAB_TUNNEL_IF" table 109
	lab_exec laptop ip rule add to 198.51.100.128/25 ipproto udp dport 3478-3481 table 109 priority 109
	probe r2
	assert_eq "verdict fail, ROUTE_VIA_TUNNEL" "$(q .verdict)/$(has_code ROUTE_VIA_TUNNEL)" fail/true
	assert_eq "Teams' 52.112.0.0/14 is partly tunneled, 13.107.64.0/18 tunneled, the profile's by its UDP rule" \
		"$(q '[.findings[] | select(.code == "ROUTE_VIA_TUNNEL") | .evidence.prefixes[] | "\(.prefix)=\(.label)"] | sort | join(" ")')" \
		"13.107.64.0/18=tunneled 198.51.100.128/25=tunneled 52.112.0.0/14=partly tunneled"
	assert_match "the finding names the prefixes, the tunnel and what to change" \
		"$(q '.findings[] | select(.code == "ROUTE_VIA_TUNNEL") | .message')" \
		"52.112.0.0/14 \\(Skype for Business Online and Microsoft Teams, partly tunneled\\).* $LAB_TUNNEL_IF.*Exclude these prefixes"
	lab_exec laptop ip rule del priority 109
	lab_exec laptop ip route flush table 109
	lab_exec laptop ip route del 52.112.0.0/16 dev "$LAB_TUNNEL_IF"
	lab_exec laptop ip route del 13.107.64.0/18 dev "$LAB_TUNNEL_IF"
	cp "$LAB_STATE/good.conf" "$LAB_STATE/lab.conf"
	show_on_failure r2
}

scenario_v() {
	section "v. a full tunnel: the VPN's facts say so, with the gateway's public address"
	lab_split tunnel-all
	probe v
	assert_eq "full tunnel, and the gateway from the client's host route to it" \
		"$(q '.probes[0].vpn | "\(.tunnel) \(.gateway)"')" "full $LAB_VPNGW_PUB"
	assert_eq "and the edge through the tunnel is RELAY_VIA_TUNNEL" "$(has_code RELAY_VIA_TUNNEL)" true
	[ "$LAB_IPV6" != home+vpn ] ||
		assert_eq "the tunnel takes all of IPv6 too: full in both families" "$(q '.probes[0].vpn.tunnel_ipv6')" full
	lab_split split
	show_on_failure v
}

scenario_q() {
	section "q. QoS markings: EF kept end to end, then a home router that re-marks to CS0"
	cp "$LAB_STATE/lab.conf" "$LAB_STATE/good.conf"
	printf '\n[stream]\ndscp = 46\ndscp_survives = relay\n' >>"$LAB_STATE/lab.conf"
	# The relay passes the marking on (coturn copies a datagram's traffic class
	# to the one it relays); the lab's MS-TURN relay does not, so this is RFC only.
	probe q
	assert_eq "verdict pass, no findings" "$(q .verdict)/$(codes)" pass/
	# coturn copies each datagram's class to the one it relays, but relay-tcp's
	# and relay-tls's media, relayed at the same time, leave a few of its
	# datagrams with theirs (0): the sample's share is the measure.
	assert_eq "relay-udp: the media arrived marked EF both ways (9/10 of a sample of at least 10 each)" \
		"$(q '.paths[] | select(.name == "relay-udp") | .qos | "\(.dscp) \(.out.seen >= 10 and .out.marked * 10 >= .out.seen * 9) \(.in.seen >= 10 and .in.marked * 10 >= .in.seen * 9) \(.out.values | index(46) != null) \(.in.values | index(46) != null)"')" \
		"46 true true true true"
	assert_eq "relay-tcp: no QoS record (media over TCP carries no marking of its own)" \
		"$(q '.paths[] | select(.name == "relay-tcp") | .qos')" null
	printf '  (q: relay-udp sampled %s of %s out, %s marked; %s of %s in, %s marked)\n' \
		"$(q '.paths[] | select(.name == "relay-udp") | .qos.out.seen')" \
		"$(q '.paths[] | select(.name == "relay-udp") | .metrics.directions.out.packets_received')" \
		"$(q '.paths[] | select(.name == "relay-udp") | .qos.out.marked')" \
		"$(q '.paths[] | select(.name == "relay-udp") | .qos.in.seen')" \
		"$(q '.paths[] | select(.name == "relay-udp") | .metrics.directions.in.packets_received')" \
		"$(q '.paths[] | select(.name == "relay-udp") | .qos.in.marked')"
	show_on_failure q
	lab_remark on
	probe q-remarked
	assert_eq "re-marked: verdict warn, QOS_MARKING_LOST" "$(q .verdict)/$(codes)" warn/QOS_MARKING_LOST
	assert_eq "on relay-udp, both directions, naming CS0" \
		"$(q '[.findings[] | select(.code == "QOS_MARKING_LOST") | "\(.evidence.path) \(.evidence.direction)"] | join(",")')" \
		"relay-udp out,relay-udp in"
	assert_match "the message says what arrived" \
		"$(q '.findings[] | select(.code == "QOS_MARKING_LOST") | .message' | head -n1)" \
		'kept DSCP 46 \(EF\); the rest arrived as 0 \(CS0\)'
	assert_eq "natural lost it too, but no finding there (dscp_survives = relay)" \
		"$(q '.paths[] | select(.name == "natural") | "\(.qos.in.marked) \(.qos.in.values) \(.verdict)"')" "0 [0] pass"
	show_on_failure q-remarked
	lab_remark off
	cp "$LAB_STATE/good.conf" "$LAB_STATE/lab.conf"
}

scenario_f() {
	section "f. edge down"
	lab_edge_down
	probe f
	assert_eq "verdict fail, exit 2" "$(q .verdict)/$RC" "fail/2"
	assert_eq "RELAY_UNREACHABLE is found" "$(has_code RELAY_UNREACHABLE)" true
	assert_lt "within 15 s, no hang" "$SECONDS_TAKEN" 15
	lab_exec laptop "$ICEPROBE" run --profile "$LAB_STATE/lab.conf" --junit "$LAB_STATE/f.xml" >/dev/null
	assert_eq "--junit writes one test case per check and path (8 + 5: firewall skips on Linux)" \
		"$(grep -c '<testcase ' "$LAB_STATE/f.xml")" 13
	assert_match "and marks the failures" "$(cat "$LAB_STATE/f.xml")" 'failures="[1-9]'
	show_on_failure f
}

body() {
	lab_write_profile "$LAB_STATE/lab.conf"
	case $GROUP in
	paths)
		lab_variants steady scenario_a scenario_b
		scenario_old_kernel
		lab_variants bursty scenario_e scenario_g scenario_m
		# The routes and the VPN's facts are kernel facts a busy tunnel must not
		# change either (no media is judged there: no MS-ICE2 variant); the QoS
		# markings need a relay that passes them on (coturn; the lab's MS-TURN
		# relay does not). The
		# old kernel's fallback is idle only: without the kernel's word per
		# packet, a busy tunnel's counters blame it (docs/libnice.md §32).
		lab_idle_and_busy steady scenario_r scenario_v scenario_q
		# A laptop with IPv6 at home, its VPN carrying IPv6 too: every
		# scenario keeps its verdict and codes (the edge stays IPv4).
		lab_rename_tunnel gpd0 # as scenario_a found it (scenario_e renamed it)
		lab_ipv6_variants home+vpn scenario_a scenario_b scenario_e scenario_g scenario_m \
			scenario_r scenario_v
		;;
	edge)
		lab_variants steady scenario_c scenario_d
		lab_variants bursty scenario_secret scenario_f
		# IPv6 at home, the VPN IPv4-only: IPv6 leaves by eth0.
		lab_ipv6_variants home scenario_c scenario_d scenario_secret scenario_f
		;;
	only:*) # a debugging aid: only:a,m-steady,a-ms-ice2,a-ipv6 runs scenario_a, scenario_m busy (steady), scenario_a in
		# MS-ICE2, scenario_a with IPv6 at home and in the VPN (-ipv6home: at home only)
		local s
		for s in $(printf '%s' "${GROUP#only:}" | tr ',' ' '); do
			case $s in
			*-ms-ice2) lab_dialect ms-ice2 && LAB_VARIANT=-ms-ice2 && "scenario_${s%%-*}"; lab_dialect rfc8445; LAB_VARIANT="" ;;
			*-ipv6 | *-ipv6home) lab_ipv6_variants "$([ "${s#*-}" = ipv6 ] && echo home+vpn || echo home)" "scenario_${s%%-*}" ;;
			*-*) lab_busy "${s#*-}" && LAB_VARIANT=-${s#*-} && "scenario_${s%%-*}" && lab_busy off; LAB_VARIANT="" ;;
			*) "scenario_$s" ;;
			esac
		done
		;;
	*) lab_die "unknown scenario group '$GROUP' (paths, edge)" ;;
	esac
	assert_summary
}

lab_run body
