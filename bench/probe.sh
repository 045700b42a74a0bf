#!/usr/bin/env bash
# The probe benchmark: `iceprobe run` on the lab's good scenario, N times
# (BENCH_RUNS, default 3), with the profile's stream length (BENCH_STREAM_S, default 3).
# Prints a table: time to gathering done and to ICE connected (natural path), time
# to verdict, run time beyond the streams, peak RSS and CPU seconds.
set -u
here=$(dirname "$0")
. "$here/../tests/lab/lab.sh"
ICEPROBE=${ICEPROBE:-$here/../build/probe/iceprobe}
RUNS=${BENCH_RUNS:-3}
export LAB_STREAM_S=${BENCH_STREAM_S:-3}

bench() {
	lab_write_profile "$LAB_STATE/lab.conf"
	printf '\nprobe benchmark: lab scenario a (good), %s runs, %s s streams on 4 paths\n\n' "$RUNS" "$LAB_STREAM_S"
	printf '%-4s %10s %11s %11s %15s %9s %8s %7s\n' run "gather ms" "connect ms" "verdict s" "beyond streams" "peak RSS" "CPU s" verdict
	local i
	for i in $(seq "$RUNS"); do
		local t0 t1
		t0=$(date +%s%N)
		lab_exec laptop /usr/bin/time -f '%M %U %S' -o "$LAB_STATE/time.$i" \
			"$ICEPROBE" run --profile "$LAB_STATE/lab.conf" --json "$LAB_STATE/b$i.json" >/dev/null 2>&1
		t1=$(date +%s%N)
		read -r rss user sys <"$LAB_STATE/time.$i"
		local total_s streams_s
		total_s=$(echo "scale=2; ($t1 - $t0) / 1000000000" | bc)
		streams_s=$(jq '[.paths[] | select(.metrics != null)] | length * '"$LAB_STREAM_S" "$LAB_STATE/b$i.json")
		printf '%-4s %10.0f %11.0f %11.2f %15.2f %7.1fMB %8.2f %7s\n' "$i" \
			"$(jq '.paths[] | select(.name == "natural") | .timing_ms.gather' "$LAB_STATE/b$i.json")" \
			"$(jq '.paths[] | select(.name == "natural") | .timing_ms.connect' "$LAB_STATE/b$i.json")" \
			"$total_s" "$(echo "$total_s - $streams_s" | bc)" "$(echo "scale=1; $rss / 1024" | bc)" \
			"$(echo "$user + $sys" | bc)" "$(jq -r .verdict "$LAB_STATE/b$i.json")"
	done
	printf '\nPer path (last run): %s\n' "$(jq -c '[.paths[] | {(.name): .timing_ms}] | add' "$LAB_STATE/b$RUNS.json")"
}

lab_run bench
