#!/usr/bin/env bash
# with-postgres.sh CMD [ARG...]: runs CMD with a PostgreSQL server of its own,
# and ICEPROBE_TEST_PG_URL naming an empty database on it. The server is made
# with initdb in a temporary directory, listens on a Unix socket there only (no
# TCP), runs as the postgres user when we are root (initdb refuses root), and
# is stopped and removed on every exit path. It does not sync to disk (a test's
# data need not survive a power cut); ICEPROBE_PG_OPTS replaces those settings
# (the benchmark's server syncs). Without PostgreSQL's server
# binaries CMD runs without the URL (its PostgreSQL half skips), except under
# CI=true, where that is a failure.
set -u
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	if [ "${CI:-}" = true ]; then
		echo "with-postgres: no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): install postgresql" >&2
		exit 1
	fi
	echo "with-postgres: no PostgreSQL server here: the PostgreSQL tests skip" >&2
	exec "$@"
fi

dir=$(mktemp -d /tmp/iceprobe-pg.XXXXXX)
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
stop() {
	[ -f "$dir/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" = 0 ] && chown postgres "$dir"
chmod 700 "$dir"
fail() {
	echo "with-postgres: $*" >&2
	cat "$dir"/*.log >&2 2>/dev/null
	exit 1
}
as_pg "$bindir/initdb" -D "$dir/data" -A trust -U iceprobe --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
	fail "initdb failed"
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
	-o "-c listen_addresses='' -c unix_socket_directories=$dir ${ICEPROBE_PG_OPTS:--c fsync=off -c full_page_writes=off}" \
	start >/dev/null 2>&1 || fail "the server did not start"
as_pg "$bindir/createdb" -h "$dir" -U iceprobe iceprobe_test || fail "createdb failed"
export ICEPROBE_TEST_PG_URL="postgresql:///iceprobe_test?host=$dir&user=iceprobe"
export ICEPROBE_TEST_PG_DIR=$dir
"$@"
