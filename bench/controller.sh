#!/usr/bin/env bash
# The controller benchmark: bench/controller_load against a real controller on
# loopback, at 1,000 and 10,000 agents (BENCH_AGENTS to choose), BENCH_ROUNDS
# rounds of paired runs each. Prints a table.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${ICEPROBE_BUILD:-$here/../build}
LOAD=$build/bench/controller_load
CTL=$build/controller/iceprobe-controller
AGENTS=${BENCH_AGENTS:-1000 10000}
ROUNDS=${BENCH_ROUNDS:-2}
CONCURRENCY=${BENCH_CONCURRENCY:-20}
dir=$(mktemp -d /tmp/iceprobe-bench-ctl.XXXXXX)
trap 'rm -rf "$dir"' EXIT

config() { # port
	mkdir -p "$dir/profiles"
	openssl rand -hex 32 >"$dir/admin.token"
	openssl rand -hex 32 >"$dir/turn.secret"
	printf '[profile]\nname = bench\n[edge]\nhost = 203.0.113.10\n[stream]\nduration_s = 10\n' \
		>"$dir/profiles/bench.conf"
	cat >"$dir/controller.conf" <<-CONF
		[server]
		listen = 127.0.0.1:$1
		[store]
		path = controller.db
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
	CONF
}

printf '\ncontroller benchmark: N agents long-polling over HTTP/1.1 on loopback (plain HTTP),\n'
printf '%s round(s) of N/2 paired runs; in each, every agent takes its order and uploads a ~3 KB report\n' "$ROUNDS"
printf '(%s in flight). SQLite store (WAL, synchronous=NORMAL) on %s. %s cores.\n\n' "$CONCURRENCY" "$(df --output=source /tmp | tail -1)" "$(nproc)"
printf '| agents | held | connect s | re-poll s | RSS held MiB | RSS peak MiB | runs/s | create p99 ms | order p99 ms | reports/s | report p50 ms | report p99 ms | runs passed | controller CPU s | load CPU s |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
rc=0
for n in $AGENTS; do
	rm -rf "$dir"/*
	port=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-60999)
	config "$port"
	"$LOAD" --controller "$CTL" --config "$dir/controller.conf" --agents "$n" --rounds "$ROUNDS" \
		--concurrency "$CONCURRENCY" || {
		rc=1
		tail -5 "$dir/controller.conf.log" >&2
	}
done
exit $rc
