#!/usr/bin/env bash
# iceprobe's figures against the truth: the relay-udp path's two streams cross
# the impairment instrument twice each (laptop to the edge, the edge back to the
# laptop), and iceprobe-truth rebuilds from the instrument's own log what each
# stream went through. Per direction, iceprobe must count exactly the packets
# the log sent and lost, its RFC 3550 jitter (the estimate's mean over the
# stream, as its windowed figure: the value at the stream's end weighs its last
# few packets, and one stall of this VM there moves it) within 10 % of the log's
# (at least 0.3 ms),
# its RTT median within 1 ms, its reordered packets and copies exactly the
# log's, and its burst ratio the log's.
# The log's RTT is the network's, taken at the router; iceprobe's is the
# application's, and carries the laptop's own stack four times (two sends, two
# receives): 0.22-0.34 ms over twelve directions on a quiet 2-core VM, 0.47-0.54
# ms in one CI run on the same VM, 0.37-0.59 ms in the sanitized build. A bound
# under a millisecond does not hold on this machine in every run, so the test
# holds 1 ms (a unit or DLSR mistake is off by far more) and prints the figures;
# bench/fidelity.sh measures the precision across a grid (docs/measurement.md).
# Usage: fidelity.sh
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"
: "${ICEPROBE:?set ICEPROBE to the iceprobe binary}"
: "${ICEPROBE_IMPAIR:?set ICEPROBE_IMPAIR to iceprobe-impair}"
TRUTH=${ICEPROBE_TRUTH:?set ICEPROBE_TRUTH to iceprobe-truth}

# measure NAME UP DOWN SEED SECONDS: one relay-udp run through the impairment;
# NAME.json is iceprobe's result, NAME.truth the log's streams.
measure() {
	local name=$1 up=$2 down=$3 seed=$4 secs=$5
	lab_impair "$up" "$down" "$seed"
	lab_exec laptop "$ICEPROBE" run --profile "$LAB_STATE/lab.conf" --paths relay-udp \
		--duration "$secs" --json "$LAB_STATE/$name.json" >"$LAB_STATE/$name.txt" 2>&1
	lab_impair off
	cp "$LAB_STATE/impair.tsv" "$LAB_STATE/$name.tsv"
	"$TRUTH" "$LAB_STATE/$name.tsv" >"$LAB_STATE/$name.truth" 2>>"$LAB_STATE/$name.txt"
}

# field NAME DIR KEY: the log's KEY for direction DIR (out: from the probe's
# port; in: to it).
field() {
	local name=$1 dir=$2 key=$3 port sel
	port=$(jq -r '.paths[] | select(.name == "relay-udp") | .selected_pair.local.base_address // ""' \
		"$LAB_STATE/$name.json" | sed 's/.*://')
	[ "$dir" = out ] && sel="from=$port" || sel="to=$port"
	awk -v sel="$sel" -v key="$key" '{
		hit = 0; for (i = 2; i <= NF; i++) if ($i == sel) hit = 1
		if (hit) for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] }
	}' "$LAB_STATE/$name.truth"
}

measured() { jq -r ".paths[] | select(.name == \"relay-udp\") | .metrics.directions.$2 | $3" "$LAB_STATE/$1.json"; }

RTT_TOL=1.0

# within A B TOL: |A - B| <= TOL ("yes"), for assert_eq.
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; print (a != "" && b != "" && d <= t) ? "yes" : "no (" a " vs " b ")" }'; }

# check NAME DIR: the figures of one direction against the log's.
check() {
	local name=$1 dir=$2 sent lost jit tjit mjit tmjit rtt trtt
	sent=$(field "$name" "$dir" sent)
	lost=$(field "$name" "$dir" lost)
	jit=$(measured "$name" "$dir" .jitter_ms)
	tjit=$(field "$name" "$dir" jitter_ms)
	mjit=$(measured "$name" "$dir" .windows.jitter_15s_max_ms)
	tmjit=$(field "$name" "$dir" jitter_mean_ms)
	rtt=$(measured "$name" "$dir" .rtt_ms.median)
	trtt=$(field "$name" "$dir" rtt_ms_p50)
	printf '  (%s %s: sent %s/%s, lost %s/%s, jitter mean %.3f/%.3f ms (at the end %.3f/%.3f), RTT median %.3f/%.3f ms, reordered %s/%s, copies %s/%s, burst ratio %s/%s; iceprobe/log)\n' \
		"$name" "$dir" "$(measured "$name" "$dir" .packets_sent)" "$sent" \
		"$(measured "$name" "$dir" '.packets_sent - .packets_received')" "$lost" "$mjit" "$tmjit" "$jit" "$tjit" "$rtt" "$trtt" \
		"$(measured "$name" "$dir" .reordered)" "$(field "$name" "$dir" reordered)" \
		"$(measured "$name" "$dir" .duplicates)" "$(field "$name" "$dir" copies)" \
		"$(measured "$name" "$dir" .emodel.burst_r)" "$(field "$name" "$dir" burst_r)"
	assert_gt "$name $dir: the log saw the stream" "${sent:-0}" 100
	assert_eq "$name $dir: packets sent as the log counts them" "$(measured "$name" "$dir" .packets_sent)" "$sent"
	assert_eq "$name $dir: packets lost as the log dropped them" \
		"$(measured "$name" "$dir" '.packets_sent - .packets_received')" "$lost"
	# 10 %, or 0.3 ms on a stream whose jitter is under 3 ms: the application's
	# arrival times carry this host's own stalls, and one of a few ms moves the
	# mean of a 6 s stream by about 0.2 ms (1.98 against 1.76 ms in a CI run on
	# this 2-core VM); a wrong estimator is off by far more.
	assert_eq "$name $dir: jitter (the stream's mean) within 10 % (at least 0.3 ms) of the log's" \
		"$(within "$mjit" "$tmjit" "$(awk -v t="$tmjit" 'BEGIN { d = t * 0.1; print (d < 0.3 ? 0.3 : d) }')")" yes
	assert_eq "$name $dir: RTT median within $RTT_TOL ms of the log's" "$(within "$rtt" "$trtt" "$RTT_TOL")" yes
	assert_eq "$name $dir: reordered packets as the log held them back" \
		"$(measured "$name" "$dir" .reordered)" "$(field "$name" "$dir" reordered)"
	assert_eq "$name $dir: copies as the log made them" \
		"$(measured "$name" "$dir" .duplicates)" "$(field "$name" "$dir" copies)"
	assert_eq "$name $dir: burst ratio within 0.1 of the log's" \
		"$(within "$(measured "$name" "$dir" .emodel.burst_r)" "$(field "$name" "$dir" burst_r)" 0.1)" yes
}

body() {
	lab_write_profile "$LAB_STATE/lab.conf"

	section "delay, jitter and random loss, different each way of the link"
	measure random "delay=20,jitter=5,loss=3" "delay=10,jitter=2" 11 5
	check random out
	check random in
	assert_gt "random: the loss happened" "$(($(field random out lost) + $(field random in lost)))" 2

	section "bursts, reordering and copies"
	measure bursty "delay=5,jitter=1,ge=3:30:100:0,reorder=3,gap=30,dup=2" "delay=5" 12 6
	check bursty out
	check bursty in
	assert_eq "bursty: the losses came in bursts (burst ratio above 1.5 both ways)" \
		"$(awk -v a="$(field bursty out burst_r)" -v b="$(field bursty in burst_r)" 'BEGIN { print (a > 1.5 && b > 1.5) ? "yes" : "no" }')" yes
	assert_gt "bursty: packets were held back" "$(($(field bursty out reordered) + $(field bursty in reordered)))" 2
	assert_gt "bursty: packets were copied" "$(($(field bursty out copies) + $(field bursty in copies)))" 1
	assert_summary
}

lab_run body
