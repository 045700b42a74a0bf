#!/usr/bin/env bash
# ./run soak: SOAK_RUNS (100) back-to-back paired runs with short streams
# through the controller, laptop against corp host; bounded by SOAK_MAX_S
# (5400). Counts what the agents uploaded against what the store holds:
# 0 reports lost, 0 doubled. Not part of ./run test.
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"
ICEPROBE=${ICEPROBE:?set ICEPROBE to the iceprobe binary}
ICEPROBE_CONTROLLER=${ICEPROBE_CONTROLLER:?set ICEPROBE_CONTROLLER to the controller binary}
SOAK_RUNS=${SOAK_RUNS:-100}
SOAK_MAX_S=${SOAK_MAX_S:-5400}
export LAB_STREAM_S=${LAB_STREAM_S:-1}
ASSERT_NAME=soak

soak() {
	lab_controller_start
	lab_agent_start laptop laptop vpn-laptops
	lab_agent_start corp corp internal
	local i t0 ended=0 ids=()
	t0=$(date +%s)
	for i in $(seq "$SOAK_RUNS"); do
		ids+=("$(lab_api POST /api/v1/runs '{"profile": "lab", "a": "laptop", "b": "corp"}' | jq -r .run_id)")
	done
	printf 'soak: %s runs queued; they run one after another\n' "${#ids[@]}"
	while [ $(($(date +%s) - t0)) -lt "$SOAK_MAX_S" ]; do
		ended=$(lab_api GET "/api/v1/runs?limit=200" |
			jq '[.runs[] | select(.state == "done" or .state == "error")] | length')
		printf '\rsoak: %s/%s runs ended after %s s ' "$ended" "$SOAK_RUNS" $(($(date +%s) - t0))
		[ "$ended" -ge "$SOAK_RUNS" ] && break
		sleep 5
	done
	echo
	local took=$(($(date +%s) - t0))
	local db=$LAB_STATE/ctl/state/controller.db
	local stored runs_done runs_error acks_l acks_c dups verdicts
	stored=$(sqlite3 "$db" "SELECT count(*) FROM reports")
	runs_done=$(sqlite3 "$db" "SELECT count(*) FROM runs WHERE state = 'done'")
	runs_error=$(sqlite3 "$db" "SELECT count(*) FROM runs WHERE state = 'error'")
	verdicts=$(sqlite3 "$db" "SELECT verdict || ': ' || count(*) FROM runs GROUP BY verdict" | paste -sd, -)
	acks_l=$(grep -c "report of run .* acknowledged" "$LAB_STATE/agent-laptop.log")
	acks_c=$(grep -c "report of run .* acknowledged" "$LAB_STATE/agent-corp.log")
	dups=$(grep -c "acknowledged (it was already stored)" "$LAB_STATE/agent-laptop.log" "$LAB_STATE/agent-corp.log" | awk -F: '{s += $2} END {print s}')
	printf '\n| runs | ended | done | error | reports uploaded (laptop + corp) | reports stored | re-sent, taken once | wall | per run |\n'
	printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
	printf '| %s | %s | %s | %s | %s + %s | %s | %s | %s s | %.1f s |\n' "$SOAK_RUNS" "$ended" "$runs_done" \
		"$runs_error" "$acks_l" "$acks_c" "$stored" "$dups" "$took" "$(echo "$took / $SOAK_RUNS" | bc -l)"
	printf 'verdicts: %s\n\n' "$verdicts"
	assert_eq "every run ended" "$ended" "$SOAK_RUNS"
	assert_eq "0 reports lost: the store holds every report the agents uploaded" "$stored" $((acks_l + acks_c - dups))
	assert_eq "every run has both reports" "$stored" $((2 * SOAK_RUNS))
	assert_eq "0 doubled: one row per run and side" \
		"$(sqlite3 "$db" "SELECT count(*) FROM (SELECT run_id, side FROM reports GROUP BY run_id, side HAVING count(*) > 1)")" 0
	assert_eq "the spools are empty" \
		"$(find "$LAB_STATE/agent-laptop/spool" "$LAB_STATE/agent-corp/spool" -maxdepth 1 -name '*.json' ! -name status.json | wc -l)" 0
	assert_summary
}

lab_run soak
