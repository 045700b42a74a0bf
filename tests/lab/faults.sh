#!/usr/bin/env bash
# Faults during paired runs, each ending in a clear verdict with nothing lost:
# an agent killed mid-run, coturn killed mid-stream, the controller restarted
# mid-run and down at upload time, the spool's disk full.
# Usage: faults.sh GROUP   (agents: agent killed, disk full; services: coturn, controller)
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"
ICEPROBE=${ICEPROBE:?set ICEPROBE to the iceprobe binary}
ICEPROBE_CONTROLLER=${ICEPROBE_CONTROLLER:?set ICEPROBE_CONTROLLER to the controller binary}
GROUP=${1:-agents}
export LAB_STREAM_S=${LAB_STREAM_S:-3}
ASSERT_NAME=faults-$GROUP
LAB_CTL_EXTRA=("silence_s = 6")

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# start_run A B: sets RUN_ID without waiting.
start_run() {
	RUN_ID=$(lab_api POST /api/v1/runs "{\"profile\": \"lab\", \"a\": \"$1\", \"b\": \"$2\"}" | jq -r .run_id)
}
# wait_end SECONDS: until the run's state is final; writes $LAB_STATE/$RUN_ID.json
wait_end() {
	local i state
	for i in $(seq $(($1 * 10))); do
		lab_api GET "/api/v1/runs/$RUN_ID" >"$LAB_STATE/$RUN_ID.json"
		state=$(jq -r .state "$LAB_STATE/$RUN_ID.json" 2>/dev/null)
		case $state in done | error) return 0 ;; esac
		sleep 0.1
	done
	return 1
}
q() { jq -r "$1" "$LAB_STATE/$RUN_ID.json"; }
acks() { grep -c "report of run $RUN_ID acknowledged" "$LAB_STATE/agent-$1.log"; }
show_on_failure() {
	[ "$ASSERT_FAILED" = 0 ] && return
	jq -c '{state, verdict, note, findings: [.findings[] | .code]}' "$LAB_STATE/$RUN_ID.json" 2>/dev/null
	tail -n 12 "$LAB_STATE/agent-laptop.log" "$LAB_STATE/agent-corp.log" | sed 's/^/    | /'
}

fault_agent_killed() {
	section "an agent killed (SIGKILL) mid-run"
	start_run laptop corp
	lab_wait_log "$LAB_STATE/agent-laptop.log" "run $RUN_ID: 3 paths" 40 ||
		_assert_report FAIL "the paths started" "no log line"
	lab_wait_streaming "$LAB_STATE/agent-laptop.log" "$RUN_ID" ||
		_assert_report FAIL "a path streams" "no log line"
	kill -9 "$(cat "$LAB_STATE/agent-laptop.pid")"
	local t0
	t0=$(now_ms)
	wait_end 30
	local took=$(($(now_ms) - t0))
	printf '  (the run ended %s ms after the kill)\n' "$took"
	assert_eq "the run ends error with RUN_TIMEOUT" "$(q .state)/$(q '[.findings[].code] | join(",")')" error/RUN_TIMEOUT
	assert_eq "naming the killed agent" "$(q '.findings[0].evidence.agents | join(",")')" laptop
	assert_lt "within 10 s of the fault" "$took" 10000
	lab_wait_log "$LAB_STATE/agent-corp.log" "run $RUN_ID: (pass|warn|fail|error) in" 20
	lab_wait_log "$LAB_STATE/agent-corp.log" "report of run $RUN_ID failed: .*409" 20
	assert_match "the survivor's report is kept, given up with the reason (--status)" \
		"$(lab_exec corp setpriv --reuid=nobody --regid=nogroup --clear-groups "$LAB_ICEPROBE_NOBODY" agent --status \
			--spool "$LAB_STATE/agent-corp/spool")" "$RUN_ID .*409"
	show_on_failure
	rm -f "$LAB_STATE/agent-laptop.pid"
	lab_agent_start laptop laptop vpn-laptops
}

fault_agent_sigterm() {
	section "SIGTERM to an agent mid-run ends its run cleanly"
	start_run laptop corp
	lab_wait_log "$LAB_STATE/agent-laptop.log" "run $RUN_ID: 3 paths" 40
	lab_wait_streaming "$LAB_STATE/agent-laptop.log" "$RUN_ID" ||
		_assert_report FAIL "a path streams" "no log line"
	local pid t0
	pid=$(cat "$LAB_STATE/agent-laptop.pid")
	t0=$(now_ms)
	kill -TERM "$pid"
	local i
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	printf '  (the agent exited %s ms after SIGTERM)\n' $(($(now_ms) - t0))
	assert_eq "the agent exits within 10 s" "$(kill -0 "$pid" 2>/dev/null && echo running || echo exited)" exited
	assert_match "its report says it was stopped" "$(cat "$LAB_STATE/agent-laptop.log")" \
		"run $RUN_ID: error in .*stopped \(SIGTERM\)"
	assert_eq "and was uploaded before it exited, once" "$(acks laptop)" 1
	wait_end 120
	assert_eq "the run ends error" "$(q .state)" error
	assert_match "saying why" "$(q .error)" "side a \(laptop\): the agent was stopped"
	show_on_failure
	rm -f "$LAB_STATE/agent-laptop.pid"
	lab_agent_start laptop laptop vpn-laptops
}

fault_disk_full() {
	section "the corp agent's spool on a full disk"
	lab_stop agent-corp
	local spool=$LAB_STATE/agent-corp/spool
	mkdir -p "$spool"
	mount -t tmpfs -o size=64k,mode=0700 iceprobe-lab-spool "$spool" || lab_die "cannot mount a tmpfs"
	LAB_MOUNTS+=("$spool")
	chown nobody "$spool"
	dd if=/dev/zero of="$spool/filler" bs=4k count=64 2>/dev/null
	lab_agent_start corp corp internal
	start_run laptop corp
	wait_end 90
	assert_eq "the run completes" "$(q .state)" done
	assert_match "the agent says the disk would not take the report" "$(cat "$LAB_STATE/agent-corp.log")" \
		"spool: cannot write .*No space left on device; the report of run $RUN_ID is kept in memory"
	assert_eq "and uploads it from memory, once" "$(acks corp)" 1
	show_on_failure
	lab_stop agent-corp
	umount "$spool" && LAB_MOUNTS=()
	lab_agent_start corp corp internal
}

fault_coturn_killed() {
	section "coturn killed mid-stream"
	start_run laptop corp
	lab_wait_log "$LAB_STATE/agent-laptop.log" "run $RUN_ID: 3 paths" 40
	lab_wait_streaming "$LAB_STATE/agent-laptop.log" "$RUN_ID" relay ||
		_assert_report FAIL "the relay path streams" "no log line"
	lab_edge_down KILL # coturn's own shutdown on SIGTERM takes seconds: a crash is at once
	local t0
	t0=$(now_ms)
	wait_end 60
	local took=$(($(now_ms) - t0))
	printf '  (the run ended %s ms after coturn died)\n' "$took"
	assert_eq "the run is judged: done, verdict fail" "$(q .state)/$(q .verdict)" done/fail
	assert_eq "RELAY_UNREACHABLE" "$(q "[.findings[].code] | index(\"RELAY_UNREACHABLE\") != null")" true
	assert_match "the relay path says what happened: the edge's TURN service is gone" \
		"$(q '.paths[] | select(.name == "relay") | .sides.a.reason')" \
		'TURN service is gone|no relay candidate|allocations failed'
	assert_eq "both reports arrived, once each" "$(acks laptop)/$(acks corp)" 1/1
	# The run ends when natural's ICE has failed without the relay (7.6-9.9 s
	# in the sanitizer build, whose checks run slower: it once took 10.4 s
	# under load); the 10 s claim is the release build's.
	local limit=10000
	[ "${ICEPROBE_SANITIZE:-none}" = none ] || limit=13000
	assert_lt "within $((limit / 1000)) s of the fault" "$took" "$limit"
	show_on_failure
	lab_start_edge
}

fault_controller_restart() {
	section "the controller restarted mid-run (a short outage)"
	start_run laptop corp
	lab_wait_log "$LAB_STATE/agent-laptop.log" "run $RUN_ID: 3 paths" 40
	lab_wait_streaming "$LAB_STATE/agent-laptop.log" "$RUN_ID" ||
		_assert_report FAIL "a path streams" "no log line"
	lab_stop controller
	sleep 1 # the outage itself
	lab_controller_serve
	wait_end 90
	assert_match "the run ends with a verdict" "$(q .state)/$(q .verdict)" '^done/(pass|warn|fail)$'
	assert_eq "both reports arrived, once each" "$(acks laptop)/$(acks corp)" 1/1
	show_on_failure

	section "the controller unreachable when the reports are uploaded"
	start_run laptop corp
	lab_wait_log "$LAB_STATE/agent-laptop.log" "run $RUN_ID: path relay (pass|warn|fail|error|skip) in" 60
	lab_stop controller
	lab_wait_log "$LAB_STATE/agent-laptop.log" "uploading the report of run $RUN_ID failed" 40
	lab_wait_log "$LAB_STATE/agent-corp.log" "uploading the report of run $RUN_ID failed" 40
	assert_match "the laptop's --status shows the report waiting, with the reason" \
		"$(lab_exec laptop setpriv --reuid=nobody --regid=nogroup --clear-groups "$LAB_ICEPROBE_NOBODY" agent --status \
			--spool "$LAB_STATE/agent-laptop/spool")" "$RUN_ID .*attempt.*(refused|connect)"
	lab_controller_serve
	local t0
	t0=$(now_ms)
	wait_end 90
	local took=$(($(now_ms) - t0))
	printf '  (the verdict came %s ms after the controller was back)\n' "$took"
	assert_match "after the restart the run is verified" "$(q .state)/$(q .verdict)" '^done/(pass|warn|fail)$'
	assert_lt "within 10 s of the controller being back" "$took" 10000
	assert_eq "both reports arrived, once each" "$(acks laptop)/$(acks corp)" 1/1
	assert_eq "and the spools are empty" \
		"$(ls "$LAB_STATE/agent-laptop/spool"/*.json "$LAB_STATE/agent-corp/spool"/*.json 2>/dev/null | grep -vc status.json)" 0
	show_on_failure
}

body() {
	LAB_MOUNTS=()
	# A tmpfs mounted by a test comes off before the lab's state is removed.
	trap 'for m in "${LAB_MOUNTS[@]}"; do umount "$m"; done' EXIT
	trap 'exit 143' TERM INT
	lab_controller_start
	lab_agent_start laptop laptop vpn-laptops
	lab_agent_start corp corp internal
	case $GROUP in
	agents) fault_agent_killed; fault_agent_sigterm; fault_disk_full ;;
	services) fault_coturn_killed; fault_controller_restart ;;
	*) lab_die "unknown group '$GROUP' (agents, services)" ;;
	esac
	assert_summary
}

lab_run body
