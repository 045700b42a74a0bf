#!/usr/bin/env bash
# Several controllers on one PostgreSQL, as an enterprise runs them: a server of
# the lab's own, two controllers in the ctl node (203.0.113.20 and .21), agents
# that call different ones. Real binaries, real PostgreSQL, the lab's network.
#   - a long-poll on one controller learns within milliseconds what was posted
#     on the other (LISTEN/NOTIFY): orders, and a peer's signals;
#   - a paired run whose two agents never call the same controller;
#   - a controller killed (SIGKILL) mid-run: its agent moves to the other one,
#     the run completes, each report arrives once;
#   - an agent that knows the controllers by one name with both addresses:
#     the one it uses killed, it goes to the other;
#   - PostgreSQL stopped for 10 s mid-run: the controllers answer 503 with
#     Retry-After, an idle agent waits as long as it is told, the run completes
#     once it is back; and away while the reports are uploaded: the agents keep
#     them in the spool, and each arrives once when it is back;
#   - PostgreSQL hanging (its processes stopped): the controllers answer 503
#     within their 10 s wait for it, at once after, and carry on when it does.
set -u
. "$(dirname "$0")/lab.sh"
. "$(dirname "$0")/assert.sh"
ICEPROBE=${ICEPROBE:?set ICEPROBE to the iceprobe binary}
ICEPROBE_CONTROLLER=${ICEPROBE_CONTROLLER:?set ICEPROBE_CONTROLLER to the controller binary}
export LAB_STREAM_S=${LAB_STREAM_S:-2}
ASSERT_NAME=fleet

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# sleep_until T0 MS: until MS milliseconds have passed since T0 (now_ms).
sleep_until() {
	local left=$(($2 - ($(now_ms) - $1)))
	[ "$left" -gt 0 ] && sleep "$(echo "scale=3; $left / 1000" | bc)"
	return 0
}
# api URL METHOD PATH [BODY]: the admin API of one controller; prints the body.
api() {
	local args=(-s --cacert "$LAB_STATE/ctl/ca.pem" -X "$2" -H "Authorization: Bearer $LAB_ADMIN")
	[ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
	lab_exec ctl curl "${args[@]}" "$1$3"
}
# as_agent TOKENFILE URL METHOD PATH [BODY]: the agents' API, with an agent's token.
as_agent() {
	local args=(-s --cacert "$LAB_STATE/ctl/ca.pem" -X "$3" -H "Authorization: Bearer $(cat "$1")")
	[ -n "${5:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$5")
	lab_exec ctl curl "${args[@]}" "$2$4"
}
# wait_end URL SECONDS: until the run is final (asked of controller URL); writes $LAB_STATE/$RUN_ID.json
wait_end() {
	local i state
	for i in $(seq $(($2 * 10))); do
		api "$1" GET "/api/v1/runs/$RUN_ID" >"$LAB_STATE/$RUN_ID.json"
		state=$(jq -r .state "$LAB_STATE/$RUN_ID.json" 2>/dev/null)
		case $state in done | error) return 0 ;; esac
		sleep 0.1
	done
	return 1
}
start_run() { # URL A B
	RUN_ID=$(api "$1" POST /api/v1/runs "{\"profile\": \"lab\", \"a\": \"$2\", \"b\": \"$3\"}" | jq -r .run_id)
}
q() { jq -r "$1" "$LAB_STATE/$RUN_ID.json"; }
acks() { grep -c "report of run $RUN_ID acknowledged" "$LAB_STATE/agent-$1.log"; }
show_on_failure() {
	[ "$ASSERT_FAILED" = 0 ] && return
	jq -c '{state, verdict, note, error, findings: [.findings[] | .code]}' "$LAB_STATE/$RUN_ID.json" 2>/dev/null
	tail -n 12 "$LAB_STATE/agent-laptop.log" "$LAB_STATE/agent-corp.log" "$LAB_STATE/controller.log" \
		"$LAB_STATE/controller2.log" 2>/dev/null | sed 's/^/    | /'
}

# held_polls: how many long-polls controller 2 holds now (its /metrics).
held_polls() {
	lab_exec ctl curl -s --cacert "$LAB_STATE/ctl/ca.pem" "$LAB_CTL2_URL/metrics" |
		awk '$1 == "iceprobe_controller_long_polls" {print $2}'
}
# await_held BEFORE: until controller 2 holds more long-polls than BEFORE (100
# looks, each a curl into the lab: a few seconds at most).
await_held() {
	local i
	for i in $(seq 100); do
		[ "$(held_polls)" -gt "$1" ] 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}

# Two agents registered but not running: the test plays them with curl, to
# time how fast a wake crosses from one controller to the other.
fleet_wakes() {
	section "a long-poll on one controller hears what was posted on the other"
	local d=$LAB_STATE/probes t0 t1
	mkdir -p "$d"
	for n in x1 x2; do
		"$ICEPROBE_CONTROLLER" agent-add --config "$LAB_STATE/ctl/controller.conf" --name "$n" \
			--group "fleet-$n" 2>/dev/null | tail -n1 >"$d/$n.token"
	done
	# x2 waits for orders on controller 2; the run is created on controller 1.
	local held
	held=$(held_polls)
	(
		as_agent "$d/x2.token" "$LAB_CTL2_URL" GET "/api/v1/agent/orders?wait=10" >"$d/orders.json"
		now_ms >"$d/orders.at"
	) &
	local poll=$!
	await_held "$held" # x2's poll is held (the other agents' come and go: at worst this is early)
	t0=$(now_ms)
	start_run "$LAB_CTL_URL" x1 x2
	wait "$poll"
	t1=$(cat "$d/orders.at")
	printf '  (orders: created on controller 1, on controller 2 %s ms after the request began)\n' $((t1 - t0))
	assert_eq "x2's long-poll on controller 2 gets the order created on controller 1" \
		"$(jq -r '.orders[0].run_id' "$d/orders.json")" "$RUN_ID"
	assert_lt "within 500 ms" $((t1 - t0)) 500
	as_agent "$d/x1.token" "$LAB_CTL_URL" GET "/api/v1/agent/orders?wait=0" >/dev/null
	held=$(held_polls)
	(
		as_agent "$d/x2.token" "$LAB_CTL2_URL" GET "/api/v1/runs/$RUN_ID/signal?after=0&wait=10" >"$d/signal.json"
		now_ms >"$d/signal.at"
	) &
	poll=$!
	await_held "$held"
	t0=$(now_ms)
	as_agent "$d/x1.token" "$LAB_CTL_URL" POST "/api/v1/runs/$RUN_ID/signal" '{"message": {"ufrag": "fleet"}}' >"$d/post.json"
	t1=$(now_ms)
	wait "$poll"
	local heard
	heard=$(cat "$d/signal.at")
	printf '  (signal: posted on controller 1 in %s ms, heard on controller 2 %s ms after the post began)\n' \
		$((t1 - t0)) $((heard - t0))
	assert_eq "x2's long-poll on controller 2 gets x1's signal posted on controller 1" \
		"$(jq -c '.messages' "$d/signal.json")" '[{"seq":1,"message":{"ufrag":"fleet"}}]'
	assert_lt "within 500 ms" $((heard - t0)) 500
	as_agent "$d/x1.token" "$LAB_CTL2_URL" POST "/api/v1/runs/$RUN_ID/signal" '{"message": {"ufrag": "fleet"}}' >"$d/again.json"
	assert_eq "the same post retried on the other controller (its answer lost) is the same message" \
		"$(jq -r .seq "$d/again.json")" 1
	assert_gt "controller 2 counts the wakes it heard from the store (/metrics)" \
		"$(lab_exec ctl curl -s --cacert "$LAB_STATE/ctl/ca.pem" "$LAB_CTL2_URL/metrics" |
			awk '$1 == "iceprobe_controller_wakes_received_total" {print int($2)}')" 1
	# Both controllers see the run; it ends on its own (x1 and x2 never report).
}

fleet_paired() {
	section "a paired run whose agents call different controllers"
	start_run "$LAB_CTL_URL" laptop corp
	wait_end "$LAB_CTL2_URL" 120
	printf '  (run %s: %s)\n' "$RUN_ID" "$(q .verdict)"
	assert_eq "it ends done, verdict pass" "$(q .state)/$(q .verdict)" done/pass
	assert_eq "each report arrived once" "$(acks laptop)/$(acks corp)" 1/1
	assert_eq "both controllers give the same document" \
		"$(api "$LAB_CTL_URL" GET "/api/v1/runs/$RUN_ID" | jq -c '{state, verdict, findings}')" \
		"$(api "$LAB_CTL2_URL" GET "/api/v1/runs/$RUN_ID" | jq -c '{state, verdict, findings}')"
	show_on_failure
}

fleet_controller_killed() {
	section "controller 1 killed (SIGKILL) mid-run: the laptop moves to controller 2"
	start_run "$LAB_CTL2_URL" laptop corp
	lab_wait_log "$LAB_STATE/agent-laptop.log" "run $RUN_ID: 3 paths" 40 ||
		_assert_report FAIL "the paths started" "no log line"
	lab_wait_streaming "$LAB_STATE/agent-laptop.log" "$RUN_ID" ||
		_assert_report FAIL "a path streams" "no log line"
	lab_stop controller KILL
	local t0
	t0=$(now_ms)
	wait_end "$LAB_CTL2_URL" 120
	printf '  (run %s: %s, %s ms after the kill)\n' "$RUN_ID" "$(q .verdict)" $(($(now_ms) - t0))
	assert_match "the run completes through controller 2" "$(q .state)/$(q .verdict)" '^done/(pass|warn|fail)$'
	lab_wait_log "$LAB_STATE/agent-laptop.log" "report of run $RUN_ID acknowledged" 20
	assert_eq "each report arrived once" "$(acks laptop)/$(acks corp)" 1/1
	assert_match "the laptop says where it went" "$(cat "$LAB_STATE/agent-laptop.log")" \
		"connected to the controller ${LAB_CTL2_URL//./\\.}"
	assert_eq "the run has one verified result (finished once)" \
		"$(api "$LAB_CTL2_URL" GET "/api/v1/runs?limit=50" | jq --arg id "$RUN_ID" '[.runs[] | select(.run_id == $id)] | length')" 1
	show_on_failure
	lab_controller_serve
}

# The controller (1 or 2) holding a long-poll from PEER (its address as the ctl node sees it).
holder() {
	local local_addr
	local_addr=$(lab_exec ctl ss -Htn state established "( sport = :8443 )" |
		awk -v p="$1" '$4 ~ "^"p":" {print $3; exit}')
	case $local_addr in
	"$LAB_CTL":*) echo 1 ;;
	"$LAB_CTL2":*) echo 2 ;;
	*) echo none ;;
	esac
}

# laptop2 knows the controllers by one name with both addresses: the one it
# uses is killed, and libcurl takes it to the other address.
fleet_one_name() {
	section "one name with both controllers' addresses: the one in use killed"
	local was i now t0 seen
	for i in $(seq 50); do
		was=$(holder "$LAB_HOME2_WAN")
		[ "$was" != none ] && break
		sleep 0.1
	done
	assert_match "laptop2 holds a long-poll on a controller" "$was" '^[12]$'
	local other=$((3 - was)) other_url=$LAB_CTL2_URL
	[ "$other" = 1 ] && other_url=$LAB_CTL_URL
	t0=$(date +%s)
	if [ "$was" = 1 ]; then lab_stop controller KILL; else lab_stop controller2 KILL; fi
	for i in $(seq 100); do
		now=$(holder "$LAB_HOME2_WAN")
		[ "$now" = "$other" ] && break
		sleep 0.1
	done
	printf '  (laptop2 used controller %s; after the kill: controller %s, in %s x 0.1 s)\n' "$was" "$now" "$i"
	assert_eq "within 10 s it long-polls the other address of the same name" "$now" "$other"
	# The controller writes last-seen times every 2 s: until it has (10 s at most).
	for i in $(seq 100); do
		seen=$(api "$other_url" GET /api/v1/agents |
			jq -r '.agents[] | select(.name == "laptop2") | .last_seen | sub("\\.[0-9]+"; "") | fromdateiso8601')
		[ "${seen:-0}" -ge "$t0" ] 2>/dev/null && break
		sleep 0.1
	done
	assert_eq "and that controller has seen it since" "$([ "${seen:-0}" -ge "$t0" ] 2>/dev/null && echo yes || echo "no ($seen < $t0)")" yes
	if [ "$was" = 1 ]; then lab_controller_serve; else lab_controller2_serve; fi
}

# What the controllers answer while the store is away.
assert_503() {
	local url hdr
	for url in "$LAB_CTL_URL" "$LAB_CTL2_URL"; do
		hdr=$(lab_exec ctl curl -s -D - -o /dev/null --cacert "$LAB_STATE/ctl/ca.pem" \
			-H "Authorization: Bearer $LAB_ADMIN" "$url/api/v1/runs")
		assert_match "$url answers 503" "$(printf '%s' "$hdr" | head -n1)" '^HTTP/[0-9.]+ 503'
		assert_match "with Retry-After" "$hdr" '[Rr]etry-[Aa]fter: [0-9]+'
	done
}

fleet_store_down() {
	section "PostgreSQL stopped for 10 s mid-run"
	start_run "$LAB_CTL2_URL" laptop corp
	lab_wait_log "$LAB_STATE/agent-laptop.log" "run $RUN_ID: 3 paths" 60 ||
		_assert_report FAIL "the paths started" "no log line"
	lab_wait_streaming "$LAB_STATE/agent-laptop.log" "$RUN_ID" ||
		_assert_report FAIL "a path streams" "no log line"
	lab_postgres_stop
	local t0 idle_log=$LAB_STATE/agent-laptop2.log
	t0=$(now_ms)
	assert_503
	lab_wait_log "$idle_log" "polling for orders failed: .*503" 8
	assert_match "an idle agent is told when to come back, and waits that long" "$(cat "$idle_log")" \
		"polling for orders failed: .*503.*; again in [56]\.[0-9] s"
	sleep_until "$t0" 10000
	lab_postgres_start
	printf '  (PostgreSQL back after %s ms)\n' $(($(now_ms) - t0))
	t0=$(now_ms)
	wait_end "$LAB_CTL_URL" 90
	printf '  (run %s: %s, %s ms after PostgreSQL was back)\n' "$RUN_ID" "$(q .verdict)" $(($(now_ms) - t0))
	assert_match "the run completes once the store is back" "$(q .state)/$(q .verdict)" '^done/(pass|warn|fail)$'
	lab_wait_log "$LAB_STATE/agent-corp.log" "report of run $RUN_ID acknowledged" 20
	assert_eq "each report arrived once" "$(acks laptop)/$(acks corp)" 1/1
	show_on_failure

	# The run's last exchanges wait for the store (each side waits for the
	# other's figures), so its reports are written once it answers again. For
	# the reports to be written while it is away, it goes just before the last
	# path ends and stays away until the agents have given up on their peer's
	# figures (about 12 s) and tried to upload.
	section "PostgreSQL away when the reports are uploaded"
	start_run "$LAB_CTL2_URL" laptop corp
	lab_wait_log "$LAB_STATE/agent-laptop.log" "run $RUN_ID: path relay (pass|warn|fail|error|skip) in" 60 ||
		_assert_report FAIL "the relay path ran" "no log line"
	# The paths run at once: relay ends first (2.3 s), tunnel-only gives up at
	# 3.5 s (the stream and 1.5 s) and natural ends at READY (about 3.9 s).
	lab_postgres_stop
	t0=$(now_ms)
	lab_wait_log "$LAB_STATE/agent-laptop.log" "uploading the report of run $RUN_ID failed: .*503" 40
	lab_wait_log "$LAB_STATE/agent-corp.log" "uploading the report of run $RUN_ID failed: .*503" 10
	printf '  (both uploads refused %s ms into the outage)\n' $(($(now_ms) - t0))
	assert_503
	for who in laptop corp; do
		assert_match "the $who agent's --status shows its report waiting, with the 503" \
			"$(lab_exec "$who" setpriv --reuid=nobody --regid=nogroup --clear-groups "$LAB_ICEPROBE_NOBODY" agent --status \
				--spool "$LAB_STATE/agent-$who/spool")" "$RUN_ID .*503"
	done
	lab_postgres_start
	t0=$(now_ms)
	wait_end "$LAB_CTL_URL" 90
	printf '  (run %s: %s, %s ms after PostgreSQL was back)\n' "$RUN_ID" "$(q .verdict)" $(($(now_ms) - t0))
	assert_eq "the run is verified from the spooled reports" "$(q .state)" done
	assert_eq "each report arrived once" "$(acks laptop)/$(acks corp)" 1/1
	assert_eq "and the spools are empty" \
		"$(ls "$LAB_STATE/agent-laptop/spool"/*.json "$LAB_STATE/agent-corp/spool"/*.json 2>/dev/null | grep -vc status.json)" 0
	show_on_failure
}

# timed_get URL PATH: "status seconds" of an admin GET, waiting at most 30 s.
timed_get() {
	lab_exec ctl curl -s -m 30 -o /dev/null -w '%{http_code} %{time_total}' \
		--cacert "$LAB_STATE/ctl/ca.pem" -H "Authorization: Bearer $LAB_ADMIN" "$1$2"
}

# The database stops answering without going away: every request that needs it
# is answered 503 all the same (the controllers wait 10 s at most for an answer,
# then drop the connection and make a new one in the background), nothing is
# lost or doubled, and the controllers carry on once it answers again.
fleet_store_hangs() {
	section "PostgreSQL hangs (SIGSTOP) mid-run, then goes on"
	start_run "$LAB_CTL2_URL" laptop corp
	lab_wait_log "$LAB_STATE/agent-laptop.log" "run $RUN_ID: 3 paths" 60 ||
		_assert_report FAIL "the paths started" "no log line"
	lab_wait_streaming "$LAB_STATE/agent-laptop.log" "$RUN_ID" ||
		_assert_report FAIL "a path streams" "no log line"
	lab_postgres_freeze
	local t0 url code secs
	t0=$(now_ms)
	# The first request to each may wait for the controller's own wait on the
	# database (its scheduler asks it every second); none waits longer.
	for url in "$LAB_CTL_URL" "$LAB_CTL2_URL"; do
		read -r code secs <<<"$(timed_get "$url" /api/v1/runs)"
		printf '  (%s: %s after %s s)\n' "$url" "$code" "$secs"
		assert_eq "$url answers 503 while the database hangs, within its 10 s wait and 1 s" \
			"$code/$(echo "$secs <= 11" | bc)" 503/1
	done
	for url in "$LAB_CTL_URL" "$LAB_CTL2_URL"; do
		read -r code secs <<<"$(timed_get "$url" /api/v1/runs)"
		assert_eq "$url: once it gave up on the database, it answers at once (503 in $secs s)" \
			"$code/$(echo "$secs <= 1" | bc)" 503/1
	done
	read -r code secs <<<"$(timed_get "$LAB_CTL_URL" /)"
	assert_match "the status page still answers at once ($code in $secs s)" \
		"$code/$(echo "$secs <= 1" | bc)" '^(200|503)/1$'
	sleep_until "$t0" 12000
	lab_postgres_thaw
	printf '  (PostgreSQL answered again after %s ms)\n' $(($(now_ms) - t0))
	t0=$(now_ms)
	wait_end "$LAB_CTL_URL" 120
	printf '  (run %s: %s %s, %s ms after)\n' "$RUN_ID" "$(q .state)" "$(q .verdict)" $(($(now_ms) - t0))
	assert_match "the run ends, done or error with its reason" \
		"$(q .state)/$(q .verdict)/$(q '.note // .error // ""')" '^(done/(pass|warn|fail)/|error/error/.+)'
	lab_wait_log "$LAB_STATE/agent-laptop.log" "report of run $RUN_ID acknowledged" 30
	lab_wait_log "$LAB_STATE/agent-corp.log" "report of run $RUN_ID acknowledged" 30
	assert_eq "each report arrived once" "$(acks laptop)/$(acks corp)" 1/1
	assert_match "controller 1 says it gave up waiting" "$(cat "$LAB_STATE/controller.log")" \
		'no answer from the database in 10 s'
	show_on_failure
	section "the controllers work again"
	start_run "$LAB_CTL_URL" laptop corp
	wait_end "$LAB_CTL2_URL" 120
	assert_eq "a new run ends done, verdict pass" "$(q .state)/$(q .verdict)" done/pass
	show_on_failure
}

# SIGTERM: each controller ends its long-polls, connections and threads and
# exits; in the sanitizer build, LeakSanitizer would report here.
fleet_controllers_stop() {
	section "both controllers stop on SIGTERM, cleanly"
	local c
	for c in controller controller2; do
		lab_stop "$c"
		assert_match "$c says it stopped" "$(tail -n 5 "$LAB_STATE/$c.log")" 'stopping'
		assert_no_match "$c: no sanitizer report" "$(cat "$LAB_STATE/$c.log")" 'Sanitizer|runtime error'
	done
}

body() {
	trap 'exit 143' TERM INT
	lab_postgres_start
	lab_controller_start
	lab_controller2_serve
	# The laptop knows both controllers, controller 1 first; the corp host only controller 2.
	LAB_AGENT_CONTROLLERS="$LAB_CTL_URL $LAB_CTL2_URL" lab_agent_start laptop laptop vpn-laptops
	LAB_AGENT_CONTROLLERS="$LAB_CTL2_URL" lab_agent_start corp corp internal
	# An agent with nothing to do, long-polling for orders, that knows the
	# controllers by one name with both addresses.
	LAB_AGENT_CONTROLLERS="${LAB_CTL_URL%%://*}://$LAB_CTL_NAME:8443" lab_agent_start laptop2 laptop2 vpn-laptops
	fleet_wakes
	fleet_paired
	fleet_controller_killed
	fleet_one_name
	fleet_store_down
	fleet_store_hangs
	fleet_controllers_stop
	assert_summary
}

lab_run body
