#!/usr/bin/env bash
# The controller benchmark: bench/controller_load against real controllers on
# loopback, at 1,000 and 10,000 agents (BENCH_AGENTS to choose), BENCH_ROUNDS
# rounds of paired runs each: one controller on SQLite, and two controllers
# sharing one PostgreSQL (the agents split between them; BENCH_STORES=sqlite or
# postgres for one of the two). Prints a table.
set -u
here=$(cd "$(dirname "$0")" && pwd)
STORES=${BENCH_STORES:-sqlite postgres}
# PostgreSQL: a server of the benchmark's own (tests/unit/with-postgres.sh),
# syncing its WAL as a production server does, commits acknowledged before the
# sync (synchronous_commit=off: SQLite's synchronous=NORMAL likewise loses the
# last transactions to a power cut, never to a killed process).
if [[ " $STORES " == *" postgres "* ]] && [ -z "${ICEPROBE_TEST_PG_URL:-}" ]; then
	ICEPROBE_PG_OPTS="-c synchronous_commit=off -c max_connections=40" \
		exec bash "$here/../tests/unit/with-postgres.sh" bash "$0" "$@"
fi
build=${ICEPROBE_BUILD:-$here/../build}
LOAD=$build/bench/controller_load
CTL=$build/controller/iceprobe-controller
AGENTS=${BENCH_AGENTS:-1000 10000}
ROUNDS=${BENCH_ROUNDS:-2}
CONCURRENCY=${BENCH_CONCURRENCY:-20}
dir=$(mktemp -d /tmp/iceprobe-bench-ctl.XXXXXX)
trap 'rm -rf "$dir"' EXIT
trap 'exit 143' TERM INT

config() { # FILE PORT STORE-LINE
	mkdir -p "$dir/profiles"
	[ -s "$dir/admin.token" ] || openssl rand -hex 32 >"$dir/admin.token"
	[ -s "$dir/turn.secret" ] || openssl rand -hex 32 >"$dir/turn.secret"
	printf '[profile]\nname = bench\n[edge]\nhost = 203.0.113.10\n[stream]\nduration_s = 10\n' \
		>"$dir/profiles/bench.conf"
	cat >"$1" <<-CONF
		[server]
		listen = 127.0.0.1:$2
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

printf '\ncontroller benchmark: N agents long-polling over HTTP/1.1 on loopback (plain HTTP),\n'
printf '%s round(s) of N/2 paired runs; in each, every agent takes its order and uploads a ~3 KB report\n' "$ROUNDS"
printf '(%s in flight). SQLite: one controller, WAL, synchronous=NORMAL. PostgreSQL %s: two controllers,\n' \
	"$CONCURRENCY" "$(psql --version 2>/dev/null | awk '{print $3}')"
printf 'agent i calls controller i %% 2, each run'"'"'s two agents call different ones, runs are created on\n'
printf 'each in turn; RSS is the larger controller'"'"'s, CPU the two together. Disk: %s. %s cores.\n\n' \
	"$(df --output=source /tmp | tail -1)" "$(nproc)"
printf '| store, controllers | agents | held | connect s | re-poll s | RSS held MiB | RSS peak MiB | runs/s | create p99 ms | order p99 ms | reports/s | report p50 ms | report p99 ms | runs passed | controller CPU s | load CPU s |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
rc=0
for n in $AGENTS; do
	for store in $STORES; do
		rm -rf "${dir:?}"/*
		configs=()
		case $store in
		sqlite)
			config "$dir/c1.conf" $((20000 + RANDOM % 12000)) "path = controller.db" # below the ephemeral range
			configs=(--config "$dir/c1.conf") label="SQLite, 1"
			;;
		postgres)
			psql -q "$ICEPROBE_TEST_PG_URL" -c 'SET client_min_messages = warning' \
				-c 'DROP SCHEMA public CASCADE' -c 'CREATE SCHEMA public' || { rc=1; continue; }
			port=$((20000 + RANDOM % 12000))
			config "$dir/c1.conf" "$port" "url = $ICEPROBE_TEST_PG_URL"
			config "$dir/c2.conf" $((port + 1)) "url = $ICEPROBE_TEST_PG_URL"
			configs=(--config "$dir/c1.conf" --config "$dir/c2.conf") label="PostgreSQL, 2"
			;;
		*) echo "controller.sh: unknown store '$store' (sqlite, postgres)" >&2 && exit 2 ;;
		esac
		"$LOAD" --controller "$CTL" "${configs[@]}" --agents "$n" --rounds "$ROUNDS" \
			--concurrency "$CONCURRENCY" --label "$label" || {
			rc=1
			tail -5 "$dir"/c*.conf.log >&2
		}
	done
done
exit $rc
