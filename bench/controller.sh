#!/usr/bin/env bash
# The controller benchmark: bench/controller_load against real controllers on
# loopback, at 1,000 and 10,000 agents (BENCH_AGENTS to choose), BENCH_ROUNDS
# rounds of paired runs each: one controller on SQLite, and two controllers
# sharing one PostgreSQL (the agents split between them; BENCH_STORES=sqlite or
# postgres for one of the two). HTTPS as agents use it (TLS 1.3, a throwaway CA,
# connections kept alive), or plain HTTP with BENCH_SCHEME=http. Pinning, as
# the target is measured on a 2-core machine: BENCH_LOAD_CPUS=0 (taskset for the
# load generator) and BENCH_CONTROLLER_CPUS=1 (the controllers). Prints a table.
set -u
here=$(cd "$(dirname "$0")" && pwd)
STORES=${BENCH_STORES:-sqlite postgres}
# PostgreSQL: a server of the benchmark's own (tests/unit/with-postgres.sh),
# syncing its WAL as a production server does, commits acknowledged before the
# sync (synchronous_commit=off: SQLite's synchronous=NORMAL likewise loses the
# last transactions to a power cut, never to a killed process).
if [[ " $STORES " == *" postgres "* ]] && [ -z "${ICEPROBE_TEST_PG_URL:-}" ]; then
	ICEPROBE_PG_OPTS="-c synchronous_commit=off -c max_connections=200" \
		exec bash "$here/../tests/unit/with-postgres.sh" bash "$0" "$@"
fi
. "$here/../tests/controller/certs.sh"
build=${ICEPROBE_BUILD:-$here/../build}
LOAD=$build/bench/controller_load
CTL=${BENCH_CONTROLLER:-$build/controller/iceprobe-controller} # or a wrapper that execs it (perf record)
AGENTS=${BENCH_AGENTS:-1000 10000}
ROUNDS=${BENCH_ROUNDS:-2}
CONCURRENCY=${BENCH_CONCURRENCY:-20}
SCHEME=${BENCH_SCHEME:-https}
THREADS=${BENCH_THREADS:-} # [server] threads (unset: the controller's default)
PG_CONTROLLERS=${BENCH_PG_CONTROLLERS:-2}
LOAD_CPUS=${BENCH_LOAD_CPUS:-}
CONTROLLER_CPUS=${BENCH_CONTROLLER_CPUS:-}
dir=$(mktemp -d /tmp/iceprobe-bench-ctl.XXXXXX)
trap 'rm -rf "$dir"' EXIT
trap 'exit 143' TERM INT
case $SCHEME in
https) tls_lines=$'tls_cert_file = controller.crt\ntls_key_file = controller.key' ;;
http) tls_lines= ;;
*) echo "controller.sh: BENCH_SCHEME is https or http" >&2 && exit 2 ;;
esac

config() { # FILE PORT STORE-LINE
	mkdir -p "$dir/profiles"
	[ -s "$dir/controller.crt" ] || [ "$SCHEME" = http ] || make_certs_in "$dir" ||
		{ echo "controller.sh: openssl could not make the certificates" >&2 && exit 2; }
	[ -s "$dir/admin.token" ] || openssl rand -hex 32 >"$dir/admin.token"
	[ -s "$dir/turn.secret" ] || openssl rand -hex 32 >"$dir/turn.secret"
	printf '[profile]\nname = bench\n[edge]\nhost = 203.0.113.10\n[stream]\nduration_s = 10\n' \
		>"$dir/profiles/bench.conf"
	cat >"$1" <<-CONF
		[server]
		listen = 127.0.0.1:$2
		$tls_lines
		${THREADS:+threads = $THREADS}
		[store]
		$3
		[auth]
		admin_token_file = admin.token
		[turn]
		secret_file = turn.secret
		[profiles]
		dir = profiles
		[scheduler]
		order_timeout_s = 600
		setup_s = 600
		longpoll_s = 300
		# The load's agents make no call between taking an order and reporting
		# (a real agent signals throughout); at 10,000 that gap is long.
		silence_s = 600
	CONF
}

scheme_text="HTTPS (TLS 1.3, EC P-256, connections kept alive)"
[ "$SCHEME" = http ] && scheme_text="plain HTTP (connections kept alive)"
printf '\ncontroller benchmark: N agents long-polling over HTTP/1.1 on loopback, %s,\n' "$scheme_text"
printf '%s round(s) of N/2 paired runs; in each, every agent takes its order and uploads a ~3 KB report\n' "$ROUNDS"
printf '(%s in flight). SQLite: one controller, WAL, synchronous=NORMAL. PostgreSQL %s: %s controller(s),\n' \
	"$CONCURRENCY" "$(psql --version 2>/dev/null | awk '{print $3}')" "$PG_CONTROLLERS"
printf 'agent i calls controller i %% K, each run'"'"'s two agents call different ones, runs are created on\n'
printf 'each in turn; RSS is the largest controller'"'"'s, CPU all together (from all held to the end).\n'
printf 'Handshakes: new connections while connecting + during the rounds, the agents'"'"' (libcurl) and the\n'
printf 'controllers'"'"' (connections_total, the admin'"'"'s included). Disk: %s. %s cores; load CPUs %s,\n' \
	"$(df --output=source /tmp | tail -1)" "$(nproc)" "${LOAD_CPUS:-any}"
printf 'controller CPUs %s; load average before: %s. CPU µs/report: the controllers'"'"' CPU in the report phases\n' \
	"${CONTROLLER_CPUS:-any}" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'over the reports (the report, the agent'"'"'s next long-poll, every other report its run'"'"'s verification).\n\n'
printf '| store, controllers | agents | held | connect s | re-poll s | RSS held MiB | RSS peak MiB | runs/s | create p99 ms | order p99 ms | reports/s | report p50 ms | report p99 ms | runs passed | agents'"'"' handshakes | controllers'"'"' handshakes | controller CPU s | CPU µs/report | load CPU s |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
pin=()
[ -n "$LOAD_CPUS" ] && pin=(taskset -c "$LOAD_CPUS")
rc=0
for n in $AGENTS; do
	for store in $STORES; do
		rm -rf "${dir:?}"/c*.conf* "$dir"/controller.db* "$dir/profiles"
		configs=()
		case $store in
		sqlite)
			config "$dir/c1.conf" $((20000 + RANDOM % 12000)) "path = controller.db" # below the ephemeral range
			configs=(--config "$dir/c1.conf") label="SQLite, 1${THREADS:+ x $THREADS threads}"
			;;
		postgres)
			psql -q "$ICEPROBE_TEST_PG_URL" -c 'SET client_min_messages = warning' \
				-c 'DROP SCHEMA public CASCADE' -c 'CREATE SCHEMA public' || { rc=1; continue; }
			port=$((20000 + RANDOM % 12000))
			configs=()
			for k in $(seq "$PG_CONTROLLERS"); do
				config "$dir/c$k.conf" $((port + k - 1)) "url = $ICEPROBE_TEST_PG_URL"
				configs+=(--config "$dir/c$k.conf")
			done
			label="PostgreSQL, $PG_CONTROLLERS${THREADS:+ x $THREADS threads}"
			;;
		*) echo "controller.sh: unknown store '$store' (sqlite, postgres)" >&2 && exit 2 ;;
		esac
		"${pin[@]}" "$LOAD" --controller "$CTL" "${configs[@]}" --agents "$n" --rounds "$ROUNDS" \
			--concurrency "$CONCURRENCY" --label "$label" --ca-file "$dir/ca.pem" \
			${CONTROLLER_CPUS:+--controller-cpus "$CONTROLLER_CPUS"} || {
			rc=1
			tail -5 "$dir"/c*.conf.log >&2
		}
	done
done
exit $rc
