#!/usr/bin/env bash
# The controller as a user meets it, with two server threads: agent-add, HTTPS,
# auth, an ad-hoc run with no agent online, a run carried through by two agents
# (curl standing in for them, over the real API), a kill -9 that loses nothing
# acknowledged, /metrics through promtool and a real Prometheus, the status
# page in Chromium, and the Grafana dashboard's every query in that Prometheus
# (dashboard.sh).
set -u
. "$(dirname "$0")/helpers.sh"
ASSERT_NAME=controller
for tool in curl openssl jq promtool prometheus prometheus-alertmanager chromium ss; do
	command -v "$tool" >/dev/null || ctl_require "$tool" "$tool is not installed (./run installs it)"
done
CTL_PORT=$(free_port) || ctl_require port "no free port"
make_certs || ctl_require certs "openssl could not make test certificates"
# An MRAS answer (as for ms-turn profiles), so that its metrics are exported too.
install -m 644 "$CTL_SRC/tests/unit/data/mras-answer.xml" "$CTL_DIR/mras.xml"
# Two server threads (SO_REUSEPORT): the agents' calls land on either.
write_config "[server]" "threads = 2" "[auth]" "metrics_public = true" "status_public = true" \
	"[scheduler]" "order_timeout_s = 2" "setup_s = 5" "longpoll_s = 5" "[turn]" "mras_response_file = mras.xml"

section "agents"
out=$("$CTL" agent-add --config "$CTL_DIR/controller.conf" --name laptop1 --group vpn)
LAPTOP=$(printf '%s\n' "$out" | tail -n1)
assert_match "agent-add prints a 256-bit token alone on its last line" "$LAPTOP" '^[0-9a-f]{64}$'
CORP=$("$CTL" agent-add --config "$CTL_DIR/controller.conf" --name corp1 --group internal | tail -n1)
CORP2=$("$CTL" agent-add --config "$CTL_DIR/controller.conf" --name corp2 --group internal | tail -n1)
LAPTOP2=$("$CTL" agent-add --config "$CTL_DIR/controller.conf" --name laptop2 --group vpn | tail -n1)
"$CTL" agent-add --config "$CTL_DIR/controller.conf" --name spare --group vpn >/dev/null
out=$("$CTL" agent-add --config "$CTL_DIR/controller.conf" --name laptop1 --group vpn 2>&1)
assert_eq "a second agent-add of a name exits 3 naming it" "$?/$out" \
	"3/iceprobe-controller agent-add: an agent named 'laptop1' exists already"
out=$("$CTL" agent-list --config "$CTL_DIR/controller.conf")
assert_match "agent-list shows the agents" "$out" 'laptop1 +vpn +never'
assert_no_match "agent-list never shows a token" "$out" "$LAPTOP"
assert_eq "the store keeps no token, only its hash" "$(grep -c "$LAPTOP" "$CTL_DIR/state/controller.db")" 0
out=$("$CTL" agent-remove --config "$CTL_DIR/controller.conf" --name spare)
assert_eq "agent-remove removes" "$?" 0

section "serve"
start_controller
assert_eq "the controller starts ($CTL_SCHEME)" "$?" 0
assert_match "it serves with two threads" "$(cat "$CTL_DIR/serve.log")" 'serving .*, 2 thread\(s\)'
# SO_REUSEPORT would let a second controller bind the same port and serve too.
out=$(timeout 10 "$CTL" serve --config "$CTL_DIR/controller.conf" 2>&1)
assert_eq "a second controller on the same port fails at start (exit 3)" "$?" 3
assert_match "saying the port is in use" "$out" "listen '127.0.0.1:$CTL_PORT': port $CTL_PORT is in use"
if [ "$CTL_SCHEME" = https ]; then
	if [ "$(id -u)" = 0 ]; then
		assert_eq "started as root, it runs as [server] user" \
			"$(awk '/^Uid:/ {print $2 "/" $3}' "/proc/$CTL_PID/status")" "$(id -u nobody)/$(id -u nobody)"
	fi
	assert_fails "plain HTTP is not served on the HTTPS port" \
		curl -sf "http://127.0.0.1:$CTL_PORT/metrics"
fi
r=$(api GET /api/v1/runs)
assert_eq "no token: 401" "$(status <<<"$r")" 401
assert_eq "the error names it, as JSON" "$(body <<<"$r" | jq -r .error.code)" unauthorized
r=$(api GET /api/v1/runs "$LAPTOP")
assert_eq "an agent's token on the admin API: 403" "$(status <<<"$r")" 403
r=$(api POST /api/v1/runs "$ADMIN" '{"profile":"corp-vpn","a":"laptop1"}')
assert_eq "a body without b: 400 naming it" "$(status <<<"$r")/$(body <<<"$r" | jq -r .error.message)" "400/b: missing"

fds() { ls "/proc/$CTL_PID/fd" | wc -l; }
before=$(fds)
for _ in $(seq 40); do
	curl -s -o /dev/null --cacert "$CTL_DIR/ca.pem" "$CTL_URL/metrics"
	curl -s -o /dev/null --cacert "$CTL_DIR/ca.pem" "$CTL_URL/api/v1/nothing"
done
for _ in $(seq 30); do # the server closes the connections a moment after answering (3 s at most)
	[ "$(fds)" -lt "$((before + 3))" ] && break
	sleep 0.1
done
assert_lt "80 requests later it holds no more descriptors than before (+2)" "$(fds)" "$((before + 3))"
n=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' --cacert "$CTL_DIR/ca.pem" "$CTL_URL/metrics" \
	"$CTL_URL/metrics")
assert_eq "two requests, one kept-alive connection (one handshake)" "$n" "1 0 "

section "a run with no agent online"
t0=$(date +%s)
r=$(api POST /api/v1/runs "$ADMIN" '{"profile":"corp-vpn","a":"laptop1","b":"corp1"}')
assert_eq "an ad-hoc run is created" "$(status <<<"$r")" 201
RUN1=$(body <<<"$r" | jq -r .run_id)
verdict=pending
for _ in $(seq 60); do
	verdict=$(api GET "/api/v1/runs/$RUN1" "$ADMIN" | body | jq -r .verdict)
	[ "$verdict" = pending ] || break
	sleep 0.2
done
assert_eq "it ends in error" "$verdict" error
assert_lt "within its order deadline (2 s) and a tick" "$(($(date +%s) - t0))" 5
doc=$(api GET "/api/v1/runs/$RUN1" "$ADMIN" | body)
assert_eq "with AGENT_OFFLINE naming both agents" "$(jq -c '[.findings[] | .code, .evidence.agents]' <<<"$doc")" \
	'["AGENT_OFFLINE",["laptop1","corp1"]]'

section "a paired run, and a controller killed half-way"
api POST /api/v1/agent/heartbeat "$LAPTOP" \
	'{"version":"0.1.0","interfaces":[{"name":"eth0","class":"physical"},{"name":"gpd0","class":"tunnel"}]}' >/dev/null
RUN2=$(api POST /api/v1/runs "$ADMIN" '{"profile":"corp-vpn","a":"laptop1","b":"corp1"}' | body | jq -r .run_id)
o1=$(api GET "/api/v1/agent/orders?wait=3" "$LAPTOP" | body)
o2=$(api GET "/api/v1/agent/orders?wait=3" "$CORP" | body)
assert_eq "each agent gets its order" "$(jq -r '.orders[0].run_id' <<<"$o1")/$(jq -r '.orders[0].side' <<<"$o2")" "$RUN2/b"
turn_user=$(jq -r '.orders[0].turn.username' <<<"$o1")
assert_match "with TURN credentials of its own run" "$turn_user" "^[0-9]+:$RUN2\$"
assert_no_match "never the edge's secret" "$o1$o2" "$(cat "$CTL_DIR/turn.secret")"
report() { # run-id egress-class
	jq -nc --arg id "$1" --arg c "$2" '{schema: "iceprobe.run/1", run_id: $id, profile: "corp-vpn",
		started_at: "2026-11-24T02:00:00Z", verdict: "pass", findings: [], probes: [], checks: [],
		paths: [{name: "natural", verdict: "pass", selected_pair: {local: {type: "relay", transport: "udp",
		address: "203.0.113.10:49200", interface: "eth0", interface_class: $c, egress_interface: "eth0",
		egress_class: $c}, remote: {type: "relay", transport: "udp", address: "203.0.113.10:49300"}},
		metrics: {packets_sent: 100, packets_received: 99, loss_ratio: 0.01, jitter_ms: 1.5,
		rtt_ms: {min: 1, median: 2, p95: 3, max: 4}, reordered: 0, duplicates: 0, mos: 4.3}}]}'
}
r=$(api POST "/api/v1/runs/$RUN2/report" "$LAPTOP" "$(report "$RUN2" physical)")
assert_eq "side a's report is acknowledged" "$(status <<<"$r")/$(body <<<"$r" | jq -c .)" '200/{"stored":true,"duplicate":false}'
{
	kill -9 "$CTL_PID"
	wait "$CTL_PID"
} 2>/dev/null
start_controller
assert_eq "the controller restarts after kill -9" "$?" 0
r=$(api POST "/api/v1/runs/$RUN2/report" "$LAPTOP" "$(report "$RUN2" physical)")
assert_eq "side a's report survived: re-sent, it is a duplicate" "$(body <<<"$r" | jq -r .duplicate)" true
r=$(api POST "/api/v1/runs/$RUN2/report" "$CORP" "$(report "$RUN2" physical)")
assert_eq "side b reports after the restart" "$(status <<<"$r")" 200
doc=$(api GET "/api/v1/runs/$RUN2" "$ADMIN" | body)
assert_eq "the run is verified: pass, both sides" "$(jq -r '.verdict + " " + (.paths[0].sides | keys | join(","))' <<<"$doc")" "pass a,b"
r=$(api GET "/api/v1/runs?profile=corp-vpn&limit=1" "$ADMIN" | body)
assert_eq "runs list newest first, with a cursor" "$(jq -r '.runs[0].run_id' <<<"$r")/$(jq -r '.cursor | type' <<<"$r")" "$RUN2/string"

section "/metrics"
metrics=$(curl -s --cacert "$CTL_DIR/ca.pem" "$CTL_URL/metrics")
lint=$(printf '%s\n' "$metrics" | promtool check metrics 2>&1)
assert_eq "promtool check metrics finds nothing" "$?/$lint" "0/"
assert_match "the pair's verdict" "$metrics" 'iceprobe_run_verdict\{profile="corp-vpn",a="laptop1",b="corp1"\} 0'
assert_match "its RTT in seconds" "$metrics" 'iceprobe_rtt_seconds\{profile="corp-vpn",a="laptop1",b="corp1",path="natural",side="a"\} 0.002'
assert_match "the selected pair's classes" "$metrics" 'iceprobe_selected_pair_info\{.*local_type="relay",egress_class="physical",transport="udp"\} 1'
assert_no_match "no run id in any label" "$metrics" "$RUN1|$RUN2"

section "alerting: the shipped rules in a real Prometheus, to a real Alertmanager"
RULES=$CTL_SRC/dist/iceprobe.rules.yml
assert_ok "promtool check rules accepts dist/iceprobe.rules.yml" promtool check rules "$RULES"
assert_ok "promtool test rules: each alert fires once for two controllers' identical series" \
	promtool test rules "$CTL_SRC/tests/controller/rules_test.yml"
AM_PORT=$(free_port)
cat >"$CTL_DIR/alertmanager.yml" <<-YAML
	route:
	  receiver: keep
	  group_wait: 0s
	  group_interval: 1s
	  repeat_interval: 1h
	receivers:
	  - name: keep
YAML
setsid prometheus-alertmanager --config.file="$CTL_DIR/alertmanager.yml" --storage.path="$CTL_DIR/am" \
	--web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$CTL_DIR/alertmanager.log" 2>&1 &
CTL_PIDS+=($!)
PROM_PORT=$(free_port)
cat >"$CTL_DIR/prometheus.yml" <<-YAML
	global:
	  scrape_interval: 1s
	  evaluation_interval: 1s
	rule_files:
	  - $RULES
	alerting:
	  alertmanagers:
	    - static_configs:
	        - targets: ['127.0.0.1:$AM_PORT']
	scrape_configs:
	  - job_name: iceprobe
	    scheme: $CTL_SCHEME
	    tls_config:
	      ca_file: $CTL_DIR/ca.pem
	    static_configs:
	      - targets: ['127.0.0.1:$CTL_PORT']
YAML
assert_ok "promtool accepts the scrape and alerting configuration" promtool check config "$CTL_DIR/prometheus.yml"
setsid prometheus --config.file="$CTL_DIR/prometheus.yml" --storage.tsdb.path="$CTL_DIR/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$CTL_DIR/prometheus.log" 2>&1 &
CTL_PIDS+=($!)
value=""
for _ in $(seq 150); do
	value=$(curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query" \
		--data-urlencode 'query=iceprobe_rtt_seconds{path="natural",side="a"}' 2>/dev/null |
		jq -r '.data.result[0].value[1] // empty' 2>/dev/null)
	[ -n "$value" ] && break
	sleep 0.2
done
assert_eq "a real Prometheus scrapes it and the series queries back" "$value" 0.002
up=$(curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=up{job="iceprobe"}' | jq -r '.data.result[0].value[1]')
assert_eq "the scrape target is up ($CTL_SCHEME, verified against the CA)" "$up" 1

section "the status page"
chromium_load "$CTL_DIR/neg" 'data:text/html,<script>console.error("seen")</script>'
assert_match "(the console check sees a console error when there is one)" "$(cat "$CTL_DIR/neg.console")" seen
chromium_load "$CTL_DIR/status" "$CTL_URL/"
assert_eq "/ renders in Chromium without a console message" "$(cat "$CTL_DIR/status.console")" ""
assert_match "it shows the pair's latest verdict" "$(cat "$CTL_DIR/status.dom")" 'class="v pass">pass<'
assert_match "and its history charts" "$(cat "$CTL_DIR/status.dom")" '<svg'
assert_match "each run links to its page and its JSON" "$(cat "$CTL_DIR/status.dom")" "href=\"/runs/$RUN2.json\""
chromium_load "$CTL_DIR/run" "$CTL_URL/runs/$RUN1"
assert_eq "a run's page renders without a console message" "$(cat "$CTL_DIR/run.console")" ""
assert_match "and says why it failed, in words" "$(cat "$CTL_DIR/run.dom")" 'AGENT_OFFLINE</code> laptop1 and corp1 did not take the order'

# carry_run A B TOKEN_A TOKEN_B CLASS_A: a run of A and B carried through by
# curl standing in for both agents, side a's media leaving by its tunnel when
# CLASS_A is tunnel; its id in RUN.
carry_run() {
	local a_report
	RUN=$(api POST /api/v1/runs "$ADMIN" "{\"profile\":\"corp-vpn\",\"a\":\"$1\",\"b\":\"$2\"}" | body | jq -r .run_id)
	api GET "/api/v1/agent/orders?wait=3" "$3" >/dev/null
	api GET "/api/v1/agent/orders?wait=3" "$4" >/dev/null
	a_report=$(report "$RUN" "$5")
	[ "$5" = tunnel ] && a_report=$(jq -c '.paths[0].selected_pair.local.egress_interface = "gpd0"' <<<"$a_report")
	api POST "/api/v1/runs/$RUN/report" "$3" "$a_report" >/dev/null
	api POST "/api/v1/runs/$RUN/report" "$4" "$(report "$RUN" physical)" >/dev/null
}

section "alerts: a run that sent media through the tunnel"
# A run whose side a's media left by the tunnel: the controller's verification
# fails it with MEDIA_VIA_TUNNEL, and the alerts reach Alertmanager.
carry_run laptop1 corp1 "$LAPTOP" "$CORP" tunnel
RUN3=$RUN
doc=$(api GET "/api/v1/runs/$RUN3" "$ADMIN" | body)
assert_eq "the controller fails the run: media through the tunnel" \
	"$(jq -r '.verdict + " " + ([.findings[].code] | index("MEDIA_VIA_TUNNEL") | tostring)' <<<"$doc" | sed 's/ [0-9]*$/ found/')" "fail found"
assert_match "/metrics shows the finding" "$(curl -s --cacert "$CTL_DIR/ca.pem" "$CTL_URL/metrics")" \
	'iceprobe_run_finding\{profile="corp-vpn",a="laptop1",b="corp1",code="MEDIA_VIA_TUNNEL"\} 1'
alerts=""
for _ in $(seq 100); do
	alerts=$(curl -s "http://127.0.0.1:$AM_PORT/api/v2/alerts" | jq -r '[.[].labels.alertname] | sort | unique | join(" ")' 2>/dev/null)
	[[ "$alerts" == *IceprobeMediaThroughTunnel* && "$alerts" == *IceprobePairFailing* ]] && break
	sleep 0.3
done
assert_match "Alertmanager received IceprobePairFailing" "$alerts" IceprobePairFailing
assert_match "and IceprobeMediaThroughTunnel" "$alerts" IceprobeMediaThroughTunnel
am=$(curl -s "http://127.0.0.1:$AM_PORT/api/v2/alerts")
assert_eq "once each, with the pair and the code as labels" \
	"$(jq -r '[.[] | select(.labels.alertname == "IceprobeMediaThroughTunnel") | .labels.profile + " " + .labels.a + " " + .labels.b + " " + .labels.code] | join(";")' <<<"$am")" \
	"corp-vpn laptop1 corp1 MEDIA_VIA_TUNNEL"

section "the matrix and its analysis across pairs"
# Where each agent is (its heartbeat), then the laptop with a second corp host,
# its media in the tunnel again, while the two corp hosts pass, and so does a
# second laptop with the first: every pair with the laptop fails, every other
# passes. (Without the second laptop the runs could not tell the laptop's side
# from the corp hosts': the analysis would say so, and name neither.)
api POST /api/v1/agent/heartbeat "$LAPTOP" '{"version":"0.1.0","interfaces":[{"name":"eth0","class":"physical",
	"addresses":["192.0.2.7/24"]},{"name":"gpd0","class":"tunnel","addresses":["100.64.0.7/32"]}]}' >/dev/null
api POST /api/v1/agent/heartbeat "$CORP2" \
	'{"version":"0.1.0","interfaces":[{"name":"eth0","class":"physical","addresses":["10.1.0.11/24"]}]}' >/dev/null
carry_run laptop1 corp2 "$LAPTOP" "$CORP2" tunnel
RUN4=$RUN
carry_run corp1 corp2 "$CORP" "$CORP2" physical
RUN5=$RUN
carry_run laptop2 corp1 "$LAPTOP2" "$CORP" physical
assert_eq "the runs: the laptop's fails, the corp hosts' passes" \
	"$(api GET "/api/v1/runs/$RUN4" "$ADMIN" | body | jq -r .verdict)/$(api GET "/api/v1/runs/$RUN5" "$ADMIN" | body | jq -r .verdict)" \
	fail/pass
r=$(api GET /api/v1/analysis)
assert_eq "GET /api/v1/analysis wants the admin token" "$(status <<<"$r")" 401
analysis=$(api GET /api/v1/analysis "$ADMIN" | body)
assert_eq "the analysis names the laptop's side, its tunnel, the VPN block and the runs showing it" \
	"$(jq -r '.profiles[] | select(.profile == "corp-vpn") | .patterns[] | "\(.side) \(.subnet) \(.cause) \(.run_ids | join(","))"' <<<"$analysis")" \
	"laptop1 100.64.0.7/32 vpn_block $RUN4,$RUN3"
assert_eq "the matrix: four agents in two groups, four cells" \
	"$(jq -r '.profiles[] | select(.profile == "corp-vpn") | "\(.agents | length) \([.groups[].name] | join(",")) \(.cells | length)"' <<<"$analysis")" \
	"4 internal,vpn 4"
metrics=$(curl -s --cacert "$CTL_DIR/ca.pem" "$CTL_URL/metrics")
assert_match "/metrics has the pattern, valued by its failing pairs" "$metrics" \
	'iceprobe_analysis_pattern\{profile="corp-vpn",side="laptop1",subnet="100.64.0.7/32",cause="vpn_block"\} 2'
lint=$(printf '%s\n' "$metrics" | promtool check metrics 2>&1)
assert_eq "promtool check metrics still finds nothing" "$?/$lint" "0/"
chromium_load "$CTL_DIR/matrix" "$CTL_URL/"
assert_eq "the page with the matrix renders in Chromium without a console message" "$(cat "$CTL_DIR/matrix.console")" ""
dom=$(cat "$CTL_DIR/matrix.dom")
assert_match "it opens on the matrix" "$dom" '<h2>Who reaches whom</h2>.*<table class="matrix">.*<h2>Latest verdict'
assert_match "each cell links to its run" "$dom" "<a href=\"/runs/$RUN4\" title=\"laptop1 \(side a\) with corp2"
assert_match "the analysis is under it, its runs linked" "$dom" \
	"<div class=\"analysis\" data-cause=\"vpn_block\"><p>Every pair with agent laptop1, on 100.64.0.7/32, fails.*href=\"/runs/$RUN4\""
assert_match "the charts have a time axis and the profile's thresholds" "$dom" 'class="threshold".*fill="#555">[0-9]{2}:[0-9]{2}</text>'
shots=${ICEPROBE_ARTIFACTS:-$CTL_DIR}
mkdir -p "$shots"
cp "$CTL_DIR/matrix.png" "$shots/status-page.png" 2>/dev/null
assert_gt "a screenshot was saved ($shots/status-page.png)" "$(stat -c %s "$shots/status-page.png" 2>/dev/null || echo 0)" 10000

section "the Grafana dashboard: every panel's query in the real Prometheus"
. "$(dirname "$0")/dashboard.sh"
curl -s --cacert "$CTL_DIR/ca.pem" "$CTL_URL/metrics" >"$CTL_DIR/metrics.txt"
dashboard_check "$CTL_SRC/dist/grafana/iceprobe.json" "http://127.0.0.1:$PROM_PORT" "$CTL_DIR/metrics.txt" \
	iceprobe corp-vpn laptop1 natural

section "stop"
kill -TERM "$CTL_PID"
wait "$CTL_PID"
assert_eq "SIGTERM stops it cleanly" "$?" 0
assert_no_match "no token or secret in its log" "$(cat "$CTL_DIR/serve.log")" "$ADMIN|$LAPTOP|$CORP|$(cat "$CTL_DIR/turn.secret")"
assert_summary
