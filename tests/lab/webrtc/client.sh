# shellcheck shell=bash
# A real WebRTC client in the lab: headless Chromium in lab nodes, each its own
# ICE agent (TURN on the lab's edge, every interface offered), a call-like audio
# stream between two nodes, signalled through a small rendezvous server in the
# ctl node. Source after lab.sh; call lab_webrtc_call inside a lab (lab_run:
# its teardown calls lab_down_hook, which stops every Chromium process left).
#
#   lab_webrtc_call A_NODE A_POLICY B_NODE B_POLICY SECONDS OUTFILE
#     A offers, B answers; POLICY is all|relay (RTCIceTransportPolicy). Writes
#     OUTFILE: {a, b, laptop_media_via_tunnel_packets, crossed, first_pair_ms, pair, ...}
#     Returns 0 if both sides connected and streamed, 1 otherwise.
#
# Whether media crossed the tunnel is the kernel's count: each Chromium runs as
# its own unprivileged uid (WEBRTC_UID), and an nftables table in each of the
# call's nodes counts that uid's packets by output interface, before and after
# the stream (signalling and DNS apart). Other traffic (lab_busy's chatter, the
# tunnel itself, the lab's daemons) belongs to other uids and is not counted.
#
# Knobs: WEBRTC_UID (65533: Chromium's uid, nothing else may use it),
# WEBRTC_PORT (8090), WEBRTC_TURNS (1: also offer turns:EDGE:443),
# WEBRTC_TURN_URLS (these instead, space-separated), WEBRTC_TRUST_CA (1: the lab
# CA in each profile's NSS db; 0: not, and Chromium refuses the edge's
# certificate), WEBRTC_CONNECT_MS (15000), WEBRTC_GATHER_MS (3000),
# WEBRTC_GATHER_QUIET_MS (700), WEBRTC_SANDBOX (auto|1|0), WEBRTC_CHROMIUM
# (/usr/lib/chromium/chromium), WEBRTC_RV_SECONDS (the rendezvous's life, 1800;
# the rendezvous is ICEPROBE_RENDEZVOUS, built by meson from tools/rendezvous.c),
# WEBRTC_VERBOSE (1: step times), WEBRTC_FLAGS_DROP / WEBRTC_FLAGS_ADD.

WEBRTC_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WEBRTC_UID=${WEBRTC_UID:-65533}
WEBRTC_PORT=${WEBRTC_PORT:-8090}
WEBRTC_TURNS=${WEBRTC_TURNS:-1}
WEBRTC_CONNECT_MS=${WEBRTC_CONNECT_MS:-15000}
WEBRTC_GATHER_MS=${WEBRTC_GATHER_MS:-3000}
WEBRTC_GATHER_QUIET_MS=${WEBRTC_GATHER_QUIET_MS:-700}
WEBRTC_RV_SECONDS=${WEBRTC_RV_SECONDS:-1800}
WEBRTC_CHROMIUM=${WEBRTC_CHROMIUM:-/usr/lib/chromium/chromium}
# Where a lab's Chromium may send packets (everything else is dropped and counted).
WEBRTC_LAB_NETS="10.0.0.0/8, 100.64.0.0/10, 198.51.100.0/24, 203.0.113.0/24, 127.0.0.0/8"

webrtc_log() { printf 'webrtc: %s\n' "$*" >&2; }
# WEBRTC_VERBOSE=1: each step's time since the call started.
webrtc_step() { [ "${WEBRTC_VERBOSE:-0}" = 1 ] && webrtc_log "$(printf '%6d ms' $((($(date +%s%N) - t0) / 1000000))) $*"; return 0; }

# Chromium's own sandbox needs unprivileged user namespaces; root, or a kernel
# without them, needs --no-sandbox (WEBRTC_SANDBOX: auto, 1 or 0).
webrtc_sandbox_flag() {
	if [ -z "${WEBRTC_SANDBOX_FLAG+x}" ]; then
		WEBRTC_SANDBOX_FLAG=--no-sandbox
		case ${WEBRTC_SANDBOX:-auto} in
		1) WEBRTC_SANDBOX_FLAG="" ;;
		auto)
			[ "$WEBRTC_UID" != 0 ] && setpriv --reuid="$WEBRTC_UID" --regid="$WEBRTC_UID" --clear-groups \
				unshare -U true 2>/dev/null && WEBRTC_SANDBOX_FLAG=""
			;;
		esac
	fi
	[ -z "$WEBRTC_SANDBOX_FLAG" ] || echo "$WEBRTC_SANDBOX_FLAG"
}

# The flags each Chromium runs with (README.md says why each is there).
webrtc_flags() { # PROFILE_DIR
	webrtc_sandbox_flag
	printf '%s\n' --headless --disable-gpu "--user-data-dir=$1" \
		--use-fake-device-for-media-stream --use-fake-ui-for-media-stream \
		"--unsafely-treat-insecure-origin-as-secure=http://$LAB_CTL:$WEBRTC_PORT" \
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE $LAB_CTL, EXCLUDE $LAB_EDGE_PUB" \
		--no-first-run --no-default-browser-check --password-store=basic \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-default-apps --disable-extensions --no-pings --disable-domain-reliability \
		--disable-breakpad --metrics-recording-only --enable-logging=stderr --v=0
}

# lab_down calls this first: every Chromium process left, with its helpers.
lab_down_hook() {
	local f tags=()
	[ -n "${LAB_STATE:-}" ] || return 0
	for f in "$LAB_STATE"/chromium-*.pid; do
		[ -e "$f" ] && tags+=("$(basename "$f" .pid)")
	done
	[ ${#tags[@]} -eq 0 ] || webrtc_stop_chromium "${tags[@]}"
}

# Stops Chromiums started by lab_spawn (TAGs): each browser by its PID (TERM: it
# shuts down and is gone in about 0.2 s; KILL after 3 s), then every process
# left in its session (lab_spawn's setsid made the browser its leader: its zygote,
# renderer, GPU, network, audio and crashpad processes, which would otherwise
# linger a second or two after the browser), by PID, with KILL: they hold
# nothing worth a clean exit. Browsers are stopped together.
webrtc_stop_chromium() { # TAG...
	local tag pid sids=() pids=() left
	for tag in "$@"; do
		[ -f "$LAB_STATE/$tag.pid" ] || continue
		pid=$(cat "$LAB_STATE/$tag.pid")
		sids+=("$pid")
		pids+=("$pid")
		kill -TERM "$pid" 2>/dev/null
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	for _ in $(seq 30); do
		lab_any_alive "${pids[@]}" || break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for _ in $(seq 20); do
		left=()
		for pid in "${sids[@]}"; do
			# its session's (not zombies: those are gone, only not yet reaped by init)
			mapfile -t -O "${#left[@]}" left < <(ps -o pid=,stat= --sid "$pid" 2>/dev/null | awk '$2 !~ /^Z/ {print $1}')
		done
		[ ${#left[@]} -eq 0 ] && break
		kill -9 "${left[@]}" 2>/dev/null
		sleep 0.05
	done
	for tag in "$@"; do rm -f "$LAB_STATE/$tag.pid"; done
	[ ${#left[@]} -eq 0 ] || webrtc_log "processes still there after KILL: ${left[*]}"
	return 0
}

# Once per lab: the rendezvous (ICEPROBE_RENDEZVOUS, run as nobody in ctl).
webrtc_setup() {
	WEBRTC_RV=http://$LAB_CTL:$WEBRTC_PORT
	[ -f "$LAB_STATE/webrtc-rv.pid" ] && kill -0 "$(cat "$LAB_STATE/webrtc-rv.pid")" 2>/dev/null && return 0
	command -v "$WEBRTC_CHROMIUM" >/dev/null || lab_die "no Chromium at $WEBRTC_CHROMIUM (apt-get install chromium)"
	command -v certutil >/dev/null || lab_die "no certutil (apt-get install libnss3-tools)"
	local d=$LAB_STATE/webrtc
	mkdir -p "$d"
	chmod 711 "$LAB_STATE"
	chmod 755 "$d"
	cp "$WEBRTC_SRC/call.html" "$d/webrtc.html"
	chmod 644 "$d/webrtc.html"
	# The lab tool tests/lab/tools/rendezvous.c, built by meson (ICEPROBE_RENDEZVOUS).
	cp "${ICEPROBE_RENDEZVOUS:?set ICEPROBE_RENDEZVOUS to the iceprobe-rendezvous binary}" "$d/rendezvous"
	chmod 755 "$d/rendezvous"
	lab_spawn ctl webrtc-rv setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$d/rendezvous" "$LAB_CTL" "$WEBRTC_PORT" "$d/webrtc.html" "$WEBRTC_RV_SECONDS"
	lab_wait_listen ctl tcp "$WEBRTC_PORT"
}

# The counters of a node: Chromium's (WEBRTC_UID's) packets out of each interface.
webrtc_counters_install() { # NODE
	lab_exec "$1" nft delete table ip webrtcprobe 2>/dev/null
	lab_exec "$1" nft -f - <<-EOF
		table ip webrtcprobe {
		  counter tunnel {}
		  counter phys {}
		  counter other {}
		  counter signalling {}
		  counter dns {}
		  counter stray {}
		  set strays {
		    type ipv4_addr . inet_proto . inet_service; flags dynamic; size 256;
		  }
		  chain out {
		    type filter hook output priority filter; policy accept;
		    meta skuid != $WEBRTC_UID accept
		    ip daddr { $WEBRTC_LAB_NETS } accept
		    meta l4proto { udp, tcp } add @strays { ip daddr . meta l4proto . th dport } counter name stray drop
		    add @strays { ip daddr . meta l4proto . 0 } counter name stray drop
		  }
		  chain post {
		    type filter hook postrouting priority filter; policy accept;
		    meta skuid != $WEBRTC_UID accept
		    oifname "lo" accept
		    ip daddr $LAB_CTL tcp dport $WEBRTC_PORT counter name signalling accept
		    meta l4proto { udp, tcp } th dport 53 counter name dns accept
		    oifname "$LAB_TUNNEL_IF" counter name tunnel accept
		    oifname "gpd0" counter name tunnel accept
		    oifname "eth0" counter name phys accept
		    counter name other
		  }
		}
	EOF
}
# "tunnel phys other signalling dns stray tunnel_if" packets so far: Chromium's,
# and the last one everything the tunnel interface sent (every uid), if the node has it.
webrtc_counters_read() { # NODE
	local c t
	c=$(lab_exec "$1" nft -j list counters table ip webrtcprobe 2>/dev/null | jq -r '
		[.nftables[] | select(.counter) | .counter | {(.name): .packets}] | add // {} |
		"\(.tunnel // 0) \(.phys // 0) \(.other // 0) \(.signalling // 0) \(.dns // 0) \(.stray // 0)"')
	t=$(lab_exec "$1" cat "/sys/class/net/$LAB_TUNNEL_IF/statistics/tx_packets" 2>/dev/null || echo 0)
	echo "$c $t"
}

# TURN REST credentials (coturn --use-auth-secret): "expiry:name", base64(HMAC-SHA1(secret, username)).
webrtc_turn_user() { printf '%s:%s' "$(($(date +%s) + 3600))" "$1"; }
# WEBRTC_SECRET_FILE: another secret (a client the edge refuses).
webrtc_turn_cred() { printf '%s' "$1" | openssl dgst -sha1 -hmac "$(cat "${WEBRTC_SECRET_FILE:-$LAB_STATE/turn.secret}")" -binary | base64; }
webrtc_uri() { jq -rn --arg v "$1" '$v | @uri'; }

# A fresh profile (HOME and --user-data-dir) owned by WEBRTC_UID, with the lab
# CA trusted in its NSS db (Chromium on Linux honours user-added roots in
# $HOME/.pki/nssdb); the db is made once per lab and copied.
webrtc_profile() { # DIR
	local h=$1 t=$LAB_STATE/webrtc/nssdb-trust${WEBRTC_TRUST_CA:-1}
	if [ ! -d "$t" ]; then
		mkdir -p "$t"
		certutil -N -d "sql:$t" --empty-password >/dev/null 2>&1 || lab_die "cannot make an NSS db in $t"
		if [ "${WEBRTC_TRUST_CA:-1}" = 1 ]; then
			certutil -A -d "sql:$t" -n "iceprobe lab CA" -t "C,," -i "$LAB_STATE/pki/ca.pem" ||
				lab_die "cannot add the lab CA to the NSS db in $t"
		fi
	fi
	mkdir -p "$h/.pki" "$h/tmp" "$h/profile"
	cp -a "$t" "$h/.pki/nssdb"
	chown -R "$WEBRTC_UID:$WEBRTC_UID" "$h"
	chmod 700 "$h"
}

# The poller (bash -c, in ctl): BASE (…/box/CALL) DIR; prints "connected" once
# both sides have said so, then "done" once both results are in DIR. It runs
# under timeout --foreground, so that it stays in the caller's process group
# (lab_run's Ctrl-C reaches it); each curl has its own 2 s limit.
# shellcheck disable=SC2016
WEBRTC_POLLER='
	base=$1 dir=$2 ca="" cb="" said="" r=""
	while :; do
		[ -n "$ca" ] || { curl -sf --max-time 2 -o /dev/null "$base-connected-offer" && ca=1; }
		[ -n "$cb" ] || { curl -sf --max-time 2 -o /dev/null "$base-connected-answer" && cb=1; }
		[ -z "$said" ] && [ -n "$ca" ] && [ -n "$cb" ] && { echo connected; said=1; }
		for role in offer answer; do
			[ -s "$dir/result-$role.json" ] && continue
			r=$(curl -sf --max-time 2 "$base-result-$role") && printf "%s" "$r" >"$dir/result-$role.json"
		done
		[ -s "$dir/result-offer.json" ] && [ -s "$dir/result-answer.json" ] && { echo done; exit 0; }
		sleep 0.1
	done'

# lab_webrtc_call A_NODE A_POLICY B_NODE B_POLICY SECONDS OUTFILE
lab_webrtc_call() {
	local an=$1 ap=$2 bn=$3 bp=$4 secs=$5 out=$6
	webrtc_setup
	local call t0 side node pol role tag h url user cred turn spawn_a spawn_b
	call=c$(printf '%04x%04x' $RANDOM $RANDOM)
	t0=$(date +%s%N)
	webrtc_counters_install "$an"
	[ "$bn" = "$an" ] || webrtc_counters_install "$bn"
	local turls=("turn:$LAB_EDGE_PUB:3478?transport=udp" "turn:$LAB_EDGE_PUB:3478?transport=tcp")
	[ "$WEBRTC_TURNS" = 1 ] && turls+=("turns:$LAB_EDGE_PUB:443?transport=tcp")
	# shellcheck disable=SC2206
	[ -z "${WEBRTC_TURN_URLS:-}" ] || turls=($WEBRTC_TURN_URLS)
	webrtc_step "counters installed"
	for side in a b; do
		if [ $side = a ]; then node=$an pol=$ap role=offer; else node=$bn pol=$bp role=answer; fi
		tag=chromium-$call-$role
		h=$LAB_STATE/webrtc/$call-$role
		webrtc_profile "$h"
		webrtc_step "$role: profile made"
		user=$(webrtc_turn_user "$call-$node")
		cred=$(webrtc_turn_cred "$user")
		url="$WEBRTC_RV/?role=$role&policy=$pol&call=$call&secs=$secs&name=$node"
		url+="&user=$(webrtc_uri "$user")&cred=$(webrtc_uri "$cred")"
		url+="&gather_ms=$WEBRTC_GATHER_MS&gather_quiet_ms=$WEBRTC_GATHER_QUIET_MS&connect_ms=$WEBRTC_CONNECT_MS"
		for turn in "${turls[@]}"; do url+="&turn=$(webrtc_uri "$turn")"; done
		local flags
		# WEBRTC_FLAGS_DROP (an extended regex of flags to leave out) and
		# WEBRTC_FLAGS_ADD (more flags, space-separated): for experiments.
		mapfile -t flags < <(webrtc_flags "$h/profile" | grep -Ev -- "${WEBRTC_FLAGS_DROP:-^$}")
		# shellcheck disable=SC2206
		flags+=(${WEBRTC_FLAGS_ADD:-})
		[ $side = a ] && spawn_a=$(date +%s%3N) || spawn_b=$(date +%s%3N)
		lab_spawn "$node" "$tag" setpriv --reuid="$WEBRTC_UID" --regid="$WEBRTC_UID" --clear-groups \
			env -i PATH=/usr/bin:/bin HOME="$h" TMPDIR="$h/tmp" XDG_CONFIG_HOME="$h/.config" \
			XDG_CACHE_HOME="$h/.cache" LANG=C.UTF-8 \
			DBUS_SESSION_BUS_ADDRESS=disabled: DBUS_SYSTEM_BUS_ADDRESS=disabled: "$WEBRTC_CHROMIUM" "${flags[@]}" "$url"
	done
	# Both results, at most: page load, gathering, the other side, connecting, the stream, margin.
	# One poller in ctl (every 100 ms) says when both sides have connected (the
	# counters are read then: the stream starts) and when both results are there.
	local limit=$(((WEBRTC_GATHER_MS * 2 + WEBRTC_CONNECT_MS) / 1000 + secs + 20))
	local dir=$LAB_STATE/webrtc/$call c1="" c_ms="" ev
	mkdir -p "$dir"
	while IFS= read -r ev; do
		case $ev in
		connected)
			webrtc_step "both connected"
			c1="$(webrtc_counters_read "$an")|$(webrtc_counters_read "$bn")"
			c_ms=$((($(date +%s%N) - t0) / 1000000))
			;;
		done)
			webrtc_step "both results"
			break
			;;
		esac
	done < <(lab_exec ctl timeout --foreground "$limit" bash -c "$WEBRTC_POLLER" poller "$WEBRTC_RV/box/$call" "$dir")
	local c2 r_ms
	c2="$(webrtc_counters_read "$an")|$(webrtc_counters_read "$bn")"
	r_ms=$((($(date +%s%N) - t0) / 1000000))
	webrtc_stop_chromium "chromium-$call-offer" "chromium-$call-answer"
	webrtc_step "browsers stopped"
	# shellcheck disable=SC2016
	lab_exec ctl bash -c 'for n in offer answer connected-offer connected-answer result-offer result-answer; do
		curl -s -o /dev/null --max-time 2 -X DELETE "$1-$n"; done' deleter "$WEBRTC_RV/box/$call"
	webrtc_step "boxes deleted"
	local ra rb none='{"state":"no result","reason":"no result from this side in time"}'
	ra=$(cat "$dir/result-offer.json" 2>/dev/null)
	rb=$(cat "$dir/result-answer.json" 2>/dev/null)
	[ -n "$ra" ] && jq -e 'type == "object"' >/dev/null 2>&1 <<<"$ra" || ra=$none
	[ -n "$rb" ] && jq -e 'type == "object"' >/dev/null 2>&1 <<<"$rb" || rb=$none
	local ka kb
	ka=$(webrtc_kernel_json "${c1%%|*}" "${c2%%|*}")
	kb=$(webrtc_kernel_json "${c1#*|}" "${c2#*|}")
	local addrs_a addrs_b strays_a strays_b
	strays_a=$(webrtc_strays "$an")
	strays_b=$(webrtc_strays "$bn")
	addrs_a=$(webrtc_addrs "$an")
	addrs_b=$(webrtc_addrs "$bn")
	local which=a
	case $bn in laptop | laptop2) case $an in laptop | laptop2) ;; *) which=b ;; esac ;; esac
	jq -n --argjson a "$ra" --argjson b "$rb" --argjson ka "$ka" --argjson kb "$kb" \
		--argjson ia "$addrs_a" --argjson ib "$addrs_b" --arg which "$which" --arg sa "$strays_a" --arg sb "$strays_b" \
		--arg an "$an" --arg bn "$bn" --arg ap "$ap" --arg bp "$bp" --arg call "$call" \
		--argjson call_ms "$r_ms" --argjson both_connected_ms "${c_ms:-null}" \
		--argjson spawn_a "$spawn_a" --argjson spawn_b "$spawn_b" \
		--arg tif "$LAB_TUNNEL_IF" --argjson secs "$secs" '
		# The interface the selected local candidate names: a host candidate its
		# address, a reflexive one its base, a relay one the host candidate of the
		# same network (network-id) it was allocated from ("net-id N" when no host
		# candidate was signalled: iceTransportPolicy relay).
		def iface($ifs; $r): $r.pair.local as $c | ($r.local_candidates // []) as $g |
			if $c == null then null else
			(if $c.candidateType == "host" then $c.address
			 elif $c.candidateType == "srflx" or $c.candidateType == "prflx" then $c.relatedAddress
			 else ([$g[] | select(.address == $c.address and .port == $c.port)][0].networkId) as $n |
			   ([$g[] | select(.type == "host" and .protocol == "udp" and .networkId == $n)][0].address //
			    (if $n then "net-id \($n)" else null end)) end) as $base |
			([$ifs[] | select(.addr == $base) | .ifname] | first) // $base end;
		def side($r; $k; $ifs; $s; $spawn): $r + {node_kernel: ($k + {strays_dropped: $s}),
			local_iface_by_address: iface($ifs; $r),
			launch_to_page_ms: (if $r.time_origin then $r.time_origin - $spawn else null end)};
		def pairstr($p): if $p == null then "none" else
			"\($p.local.candidateType) \($p.local.address)/\($p.local.protocol)" +
			(if $p.local.relayProtocol then " (\($p.local.relayProtocol))" else "" end) +
			" -> \($p.remote.candidateType) \($p.remote.address)" end;
		(if $which == "a" then $ka else $kb end) as $k |
		(if $which == "a" then $a else $b end) as $l |
		{call: $call, seconds: $secs, a_node: $an, a_policy: $ap, b_node: $bn, b_policy: $bp,
		 a: side($a; $ka; $ia; $sa; $spawn_a), b: side($b; $kb; $ib; $sb; $spawn_b),
		 laptop_side: $which,
		 laptop_media_via_tunnel_packets: $k.stream.tunnel,
		 laptop_media_via_physical_packets: $k.stream.phys,
		 laptop_tunnel_if_tx_during_stream: $k.stream.tunnel_if_tx_all,
		 laptop_iface_by_kernel: (if ($k.stream.tunnel + $k.stream.phys) < 20 then null
			elif $k.stream.tunnel > $k.stream.phys then $tif else "eth0" end),
		 crossed: ($k.stream.tunnel >= 20 and $k.stream.tunnel > $k.stream.phys),
		 connected: ($a.state == "connected" and $b.state == "connected"),
		 first_pair_ms: $a.first_pair_ms, b_first_pair_ms: $b.first_pair_ms,
		 pair: pairstr($a.pair), b_pair: pairstr($b.pair),
		 call_ms: $call_ms, both_connected_at_ms: $both_connected_ms}' >"$out" ||
		lab_die "cannot write $out"
	webrtc_step "written"
	[ "$(jq -r .connected "$out")" = true ]
}

webrtc_kernel_json() { # "C1" "C2": {call: {...}, stream: {...}} (call: Chromium's whole run)
	local c1=$1 c2=$2
	[ -n "$c1" ] || c1="$c2" # never both connected: no stream
	jq -n --arg c1 "$c1" --arg c2 "$c2" '
		def obj($s): ($s | split(" ") | map(tonumber? // 0)) as $v |
			{tunnel: $v[0], phys: $v[1], other: $v[2], signalling: $v[3], dns: $v[4], stray: $v[5],
			 tunnel_if_tx_all: $v[6]};
		obj($c1) as $x | obj($c2) as $y |
		{call: ($y | del(.tunnel_if_tx_all)),
		 stream: {tunnel: ($y.tunnel - $x.tunnel), phys: ($y.phys - $x.phys), other: ($y.other - $x.other),
			  tunnel_if_tx_all: ($y.tunnel_if_tx_all - $x.tunnel_if_tx_all)}}'
}
# Where Chromium tried to send outside the lab (dropped): "addr/proto/port ...".
webrtc_strays() { # NODE
	lab_exec "$1" nft -j list set ip webrtcprobe strays 2>/dev/null |
		jq -r '[.nftables[] | select(.set) | .set.elem // [] | .[] | (.elem.val // .) | .concat | map(tostring) | join("/")] | join(" ")'
}
webrtc_addrs() { # NODE: [{ifname, addr}]
	lab_exec "$1" ip -j -4 addr show | jq -c '[.[] | .ifname as $i | .addr_info[] | {ifname: $i, addr: .local}]'
}
