#!/usr/bin/env bash
# The measurement-fidelity grid: for each impairment of the laptop's home link
# (delay 0, 20, 80 ms; jitter 0, 5, 20 ms uniform; loss 0, 1, 5 % random and in
# Gilbert-Elliott bursts of mean length 4), iceprobe's relay-udp path and
# coturn's turnutils_uclient (two clients through the same edge relay, 20 ms
# packets of 172 bytes) run one after the other through the same instrument,
# and each is set against the truth iceprobe-truth rebuilds from the
# instrument's log for its own packets.
#
# The impairment is applied going up only (laptop to the edge): each stream of
# the relay loop crosses it once, so the asked delay is one way and a round
# trip holds it twice.
#
# Columns: truth, iceprobe and uclient for the round trip (iceprobe: median of
# its echoes; uclient: what it prints as "Average round trip delay", which in
# its client-to-client mode is the mean one-way time of its messages, in whole
# milliseconds: its truth column is that mean one-way time), loss (each tool's
# own packets) and jitter (truth: RFC 3550 over each tool's own packets;
# uclient prints the mean of |interarrival - 20 ms| on a millisecond clock).
# "ok" when, both ways, iceprobe's RTT median is within 0.5 ms of the truth,
# its loss is the drop count exactly and its jitter within 10 % (or within
# 0.05 ms when the truth is under 0.5 ms: the host's own scheduling noise).
#
# Environment: BENCH_FIDELITY_S stream seconds (default 10), BENCH_FIDELITY_ROWS
# a subset of row numbers (e.g. "1 5 9"), BENCH_OUT a file for the table.
set -u
here=$(dirname "$0")
. "$here/../tests/lab/lab.sh"
ICEPROBE=${ICEPROBE:-$here/../build/probe/iceprobe}
export ICEPROBE_IMPAIR=${ICEPROBE_IMPAIR:-$here/../build/tests/lab/iceprobe-impair}
TRUTH=${ICEPROBE_TRUTH:-$here/../build/tests/lab/iceprobe-truth}
SECS=${BENCH_FIDELITY_S:-10}

# spec DELAY JITTER LOSS: the instrument's spec; LOSS is 0, 1, 5 (random) or
# 1b, 5b (bursts: the bad state loses everything, leaves it with 25 %, and is
# entered often enough for that mean loss).
spec() {
	local s="delay=$1"
	[ "$2" != 0 ] && s="$s,jitter=$2"
	case $3 in
	0) ;;
	*b) s="$s,ge=$(awk -v l="${3%b}" 'BEGIN { l /= 100; printf "%.4f", 100 * l * 0.25 / (1 - l) }'):25:100:0" ;;
	*) s="$s,loss=$3" ;;
	esac
	echo "$s"
}

kv() { awk -v key="$2" '{ for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == key) print a[2] } }' <<<"$1"; }

row() {
	local n=$1 delay=$2 jitter=$3 loss=$4 secret t0 t1 u0 u1
	secret=$(cat "$LAB_STATE/turn.secret")
	lab_impair "$(spec "$delay" "$jitter" "$loss")" none "$n"
	t0=$("$TRUTH" --now)
	lab_exec laptop "$ICEPROBE" run --profile "$LAB_STATE/lab.conf" --paths relay-udp \
		--duration "$SECS" --json "$LAB_STATE/r$n.json" >/dev/null 2>&1
	t1=$("$TRUTH" --now)
	u0=$t1
	lab_exec laptop turnutils_uclient -y -c -n $((SECS * 50)) -l 172 -z 20 -W "$secret" -u iceprobe \
		-p 3478 -L "$LAB_LAPTOP_LAN" "$LAB_EDGE_PUB" >"$LAB_STATE/u$n.txt" 2>&1
	u1=$("$TRUTH" --now)
	lab_impair off
	cp "$LAB_STATE/impair.tsv" "$LAB_STATE/r$n.tsv"
	local port ip_out ip_in uc
	port=$(jq -r '.paths[] | select(.name == "relay-udp") | .selected_pair.local.base_address // ""' \
		"$LAB_STATE/r$n.json" | sed 's/.*://')
	ip_out=$("$TRUTH" --from "$t0" --to "$t1" "$LAB_STATE/r$n.tsv" | grep " from=$port ")
	ip_in=$("$TRUTH" --from "$t0" --to "$t1" "$LAB_STATE/r$n.tsv" | grep " to=$port ")
	uc=$("$TRUTH" --uclient --from "$u0" --to "$u1" "$LAB_STATE/r$n.tsv")
	local m='.paths[] | select(.name == "relay-udp") | .metrics.directions'
	local ok=ok dir t j why
	for dir in out in; do
		[ "$dir" = out ] && t=$ip_out || t=$ip_in
		j=$(jq -r "$m.$dir | [.rtt_ms.median // -1, .packets_sent, .packets_sent - .packets_received, .jitter_ms] | @tsv" "$LAB_STATE/r$n.json")
		read -r rtt sent lost jit <<<"$j"
		why=$(awk -v rtt="$rtt" -v trtt="$(kv "$t" rtt_ms_p50)" -v sent="$sent" -v tsent="$(kv "$t" sent)" \
			-v lost="$lost" -v tlost="$(kv "$t" lost)" -v jit="$jit" -v tjit="$(kv "$t" jitter_ms)" 'BEGIN {
			d = rtt - trtt; if (d < 0) d = -d
			dj = jit - tjit; if (dj < 0) dj = -dj
			tol = tjit < 0.5 ? 0.05 : tjit * 0.1
			if (tsent == "") w = w " no truth"
			if (d > 0.5) w = w sprintf(" RTT %.2f/%.2f", rtt, trtt)
			if (sent != tsent || lost != tlost) w = w sprintf(" lost %s/%s sent %s/%s", lost, tlost, sent, tsent)
			if (dj > tol) w = w sprintf(" jitter %.3f/%.3f", jit, tjit)
			print w }')
		[ -n "$why" ] && ok="${ok#ok}MISS($dir:$why) "
	done
	j=$(jq -r "$m.out | [.rtt_ms.median // -1, .packets_sent, .packets_sent - .packets_received, .jitter_ms] | @tsv" "$LAB_STATE/r$n.json")
	read -r rtt sent lost jit <<<"$j"
	# uclient: its own packets, both streams together.
	local usent ulost ujit uow urtt
	read -r usent ulost ujit uow urtt <<<"$(awk '{
		for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
		s += v["sent"]; l += v["lost"]; j += v["jitter_ms"]; t += v["transit_ms_mean"] * v["delivered"]; d += v["delivered"]; n++
	} END { if (n) printf "%d %d %.3f %.3f %.3f\n", s, l, j / n, d ? t / d : 0, d ? 2 * t / d : 0; else print "0 0 - - -" }' <<<"$uc")"
	local u=$LAB_STATE/u$n.txt
	local urep ujrep ulrep
	urep=$(sed -n 's/.*Average round trip delay \([0-9.]*\) ms.*/\1/p' "$u" | tail -1)
	ujrep=$(sed -n 's/.*Average jitter \([0-9.]*\) ms.*/\1/p' "$u" | tail -1)
	ulrep=$(sed -n 's/.*Total lost packets \([0-9]*\) (.*/\1/p' "$u" | tail -1)
	printf '| %d | %s | %s | %s | %.2f | %.2f | %.2f / %.2f | %s | %d/%d | %d/%d | %s/%s | %s | %.3f | %.3f | %s | %s | %s |\n' \
		"$n" "$delay" "$jitter" "$loss" "$(kv "$ip_out" rtt_ms_p50)" "$rtt" "$urtt" "$uow" "${urep:--}" \
		"$(kv "$ip_out" lost)" "$(kv "$ip_out" sent)" "$lost" "$sent" "$ulost" "$usent" "${ulrep:--}" \
		"$(kv "$ip_out" jitter_ms)" "$jit" "$ujit" "${ujrep:--}" "$ok"
}

bench() {
	lab_write_profile "$LAB_STATE/lab.conf"
	printf '\nmeasurement fidelity: relay-udp (iceprobe) and turnutils_uclient through the impaired home link (up), %s s streams\n\n' "$SECS"
	printf '| # | delay ms | jitter ms | loss %% | RTT truth | RTT iceprobe | uclient truth RTT / one-way | uclient "RTT" | iceprobe truth lost/sent | iceprobe lost/sent | uclient truth lost/sent | uclient lost | jitter truth | jitter iceprobe | uclient truth jitter | uclient jitter | iceprobe |\n'
	printf '|%s\n' "---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	local n=0 d j l
	for d in 0 20 80; do
		for j in 0 5 20; do
			for l in 0 1 5 1b 5b; do
				n=$((n + 1))
				if [ -n "${BENCH_FIDELITY_ROWS:-}" ] && ! grep -qw "$n" <<<"$BENCH_FIDELITY_ROWS"; then
					continue
				fi
				row "$n" "$d" "$j" "$l"
			done
		done
	done | tee "${BENCH_OUT:-/dev/null}"
}

lab_run bench
