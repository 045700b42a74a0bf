#!/usr/bin/env bash
# The probe benchmark, on the lab's good scenario: `iceprobe run` (five paths,
# streams of each length in BENCH_STREAMS, default "2 10" seconds) and coturn's
# own test client, turnutils_uclient (two clients talking through the same edge
# relay, a G.711 packet of 172 bytes with RTP and SRTP every 20 ms for as long
# as the stream), from the same laptop, BENCH_RUNS times (default 3). Prints, side by side, wall
# time, CPU, peak RSS and what each measured; then iceprobe's per-path timings
# (first selected pair, READY, path total) and its CPU per packet; then paired
# runs through the controller, from the API call to the stored verdict.
set -u
here=$(dirname "$0")
. "$here/../tests/lab/lab.sh"
ICEPROBE=${ICEPROBE:-$here/../build/probe/iceprobe}
RUNS=${BENCH_RUNS:-3}
STREAMS=${BENCH_STREAMS:-${BENCH_STREAM_S:-2 10}}

# timed OUT CMD...: runs CMD in the laptop under /usr/bin/time; OUT.time gets
# "wall_s rss_kib user_s sys_s".
timed() {
	local out=$1
	shift
	lab_exec laptop /usr/bin/time -f '%e %M %U %S' -o "$out.time" "$@" >"$out.txt" 2>&1
}

# private OUT CMD...: runs CMD in the laptop, sampling /proc/PID/smaps_rollup
# every 50 ms; OUT.mem gets the peak of its anonymous memory (heap, stacks,
# KiB): what the run itself costs, without the file pages of the libraries it
# maps (which peak RSS counts: 14 MiB for `iceprobe --help` alone).
private() {
	local out=$1
	shift
	lab_exec laptop bash -c '
		"$@" >/dev/null 2>&1 & pid=$!
		peak=0
		while kill -0 "$pid" 2>/dev/null; do
			kib=$(awk "/^Anonymous:/ {s += \$2} END {print s + 0}" /proc/$pid/smaps_rollup 2>/dev/null)
			[ "${kib:-0}" -gt "$peak" ] && peak=$kib
			sleep 0.05
		done
		wait "$pid"
		echo "$peak"' _ "$@" >"$out.mem"
}

bench() {
	lab_write_profile "$LAB_STATE/lab.conf"
	local secret
	secret=$(cat "$LAB_STATE/turn.secret")
	printf '\nprobe benchmark: lab scenario a (good), %s runs; iceprobe with %s s streams on its paths,\n' "$RUNS" "$LAB_STREAM_S"
	local msgs=$((LAB_STREAM_S * 50))
	printf 'turnutils_uclient with 2 clients x %s messages of 172 B at 20 ms through the same edge relay\n\n' "$msgs"
	printf '%-4s %-18s %8s %8s %9s %9s %9s %10s %9s %8s\n' run tool "wall s" "CPU s" "peak RSS" "anon" "verdict" "RTT med" "jitter" loss
	printf '%-4s %-18s %8s %8s %9s %9s %9s %10s %9s %8s\n' "" "" "" "" "MiB" "MiB" "" "ms" "ms" ""
	local i wall rss user sys
	for i in $(seq "$RUNS"); do
		timed "$LAB_STATE/p$i" "$ICEPROBE" run --profile "$LAB_STATE/lab.conf" --json "$LAB_STATE/p$i.json"
		read -r wall rss user sys <"$LAB_STATE/p$i.time"
		private "$LAB_STATE/pm$i" "$ICEPROBE" run --profile "$LAB_STATE/lab.conf"
		local j=$LAB_STATE/p$i.json
		printf '%-4s %-18s %8.2f %8.2f %9.1f %9.1f %9s %10.3f %9.3f %7.2f%%\n' "$i" "iceprobe run" "$wall" \
			"$(echo "$user + $sys" | bc)" "$(echo "scale=1; $rss / 1024" | bc)" \
			"$(echo "scale=1; $(cat "$LAB_STATE/pm$i.mem") / 1024" | bc)" "$(jq -r .verdict "$j")" \
			"$(jq '.paths[] | select(.name == "relay-udp") | .metrics.rtt_ms.median' "$j")" \
			"$(jq '.paths[] | select(.name == "relay-udp") | .metrics.jitter_ms' "$j")" \
			"$(jq '.paths[] | select(.name == "relay-udp") | .metrics.loss_ratio * 100' "$j")"
		timed "$LAB_STATE/u$i" turnutils_uclient -y -c -n "$msgs" -l 172 -z 20 -W "$secret" -u iceprobe \
			-p 3478 -L "$LAB_LAPTOP_LAN" "$LAB_EDGE_PUB"
		read -r wall rss user sys <"$LAB_STATE/u$i.time"
		private "$LAB_STATE/um$i" turnutils_uclient -y -c -n "$msgs" -l 172 -z 20 -W "$secret" -u iceprobe \
			-p 3478 -L "$LAB_LAPTOP_LAN" "$LAB_EDGE_PUB"
		local u=$LAB_STATE/u$i.txt
		printf '%-4s %-18s %8.2f %8.2f %9.1f %9.1f %9s %10s %9s %8s\n' "$i" "turnutils_uclient" "$wall" \
			"$(echo "$user + $sys" | bc)" "$(echo "scale=1; $rss / 1024" | bc)" \
			"$(echo "scale=1; $(cat "$LAB_STATE/um$i.mem") / 1024" | bc)" "-" \
			"$(sed -n 's/.*Average round trip delay \([0-9.]*\) ms.*/\1/p' "$u")" \
			"$(sed -n 's/.*Average jitter \([0-9.]*\) ms.*/\1/p' "$u")" \
			"$(sed -n 's/.*Total lost packets [0-9]* (\([0-9.]*\)%).*/\1/p' "$u" | cut -c1-5)%"
	done
	local last=$LAB_STATE/p$RUNS.json
	printf '\niceprobe per path (run %s), ms from the path start:\n\n' "$RUNS"
	printf '%-12s %9s %11s %9s %9s %11s %-12s\n' path gather connected ready total "pair final" "ran"
	jq -r '.paths[] | [.name, (.timing_ms.gather // 0), (.timing_ms.connected // -1), (.timing_ms.ready // -1),
		(.timing_ms.total // 0), (.ice.pair_final // "-"),
		(if (.reason // "" | test("run again alone")) then "alone (rerun)" else "all at once" end)] | @tsv' "$last" |
		while IFS=$'\t' read -r name g c r t f beside; do
			printf '%-12s %9.0f %11s %9s %9.0f %11s %-12s\n' "$name" "$g" \
				"$([ "$c" = -1 ] && echo - || printf '%.0f' "$c")" "$([ "$r" = -1 ] && echo - || printf '%.0f' "$r")" \
				"$t" "$f" "$beside"
		done
	read -r wall rss user sys <"$LAB_STATE/p$RUNS.time"
	local packets streams
	packets=$(jq '[.paths[] | select(.metrics != null) | .metrics.packets_sent] | add' "$last")
	streams=$(jq '[.paths[] | select(.metrics != null)] | length' "$last")
	local uwall
	read -r uwall _ <"$LAB_STATE/u$RUNS.time"
	printf '\nrun %s: %.2f s wall for %s streams of %s s at once (%s s beyond one stream; %.2f of turnutils_uclient'"'"'s %.2f s); %s packets sent and received\n' \
		"$RUNS" "$wall" "$streams" "$LAB_STREAM_S" "$(echo "$wall - $LAB_STREAM_S" | bc)" \
		"$(echo "$wall / $uwall" | bc -l)" "$uwall" "$packets"
	printf 'in the process: %.0f us of CPU per packet, ICE set-up and checks included\n' \
		"$(echo "($user + $sys) * 1000000 / $packets" | bc -l)"
}

# Paired runs through the controller between the laptop's agent and the corp
# host's (three paths, at once), BENCH_RUNS times: from the API call
# to the stored verdict, and each path's time on side a.
paired_bench() {
	ICEPROBE_CONTROLLER=${ICEPROBE_CONTROLLER:-$here/../build/controller/iceprobe-controller}
	export ICEPROBE ICEPROBE_CONTROLLER
	# The controller's profile carries the stream's length: a new one each time.
	lab_stop agent-laptop
	lab_stop agent-corp
	lab_controller_start
	lab_agent_start laptop laptop vpn-laptops
	lab_agent_start corp corp internal
	printf '\npaired runs (laptop and corp agents through the controller), %s s streams:\n\n' "$LAB_STREAM_S"
	printf '%-4s %9s %-7s %10s %10s %12s\n' run "API to" verdict natural relay tunnel-only
	printf '%-4s %9s %-7s %10s %10s %12s\n' "" "verdict s" "" "total s" "total s" "total s"
	local i d
	for i in $(seq "$RUNS"); do
		d=$LAB_STATE/paired$i.json
		lab_paired laptop corp "$d"
		printf '%-4s %9s %-7s %10.1f %10.1f %12.1f\n' "$i" "$RUN_SECONDS" "$(jq -r .verdict "$d")" \
			"$(jq '[.paths[] | select(.name == "natural") | .sides.a.timing_ms.total // 0] | first / 1000' "$d")" \
			"$(jq '[.paths[] | select(.name == "relay") | .sides.a.timing_ms.total // 0] | first / 1000' "$d")" \
			"$(jq '[.paths[] | select(.name == "tunnel-only") | .sides.a.timing_ms.total // 0] | first / 1000' "$d")"
	done
}

both() {
	local s
	for s in $STREAMS; do
		export LAB_STREAM_S=$s
		bench
	done
	for s in $STREAMS; do
		export LAB_STREAM_S=$s
		paired_bench
	done
}

lab_run both
