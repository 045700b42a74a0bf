# shellcheck shell=bash
# Helpers for the controller's integration tests: a controller of our own on
# loopback (HTTPS with a throwaway CA), its processes stopped by PID on every
# exit path, and the real Prometheus and Chromium where a test needs them.
. "$(dirname "${BASH_SOURCE[0]}")/../lab/assert.sh"
. "$(dirname "${BASH_SOURCE[0]}")/certs.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lab/chromium.sh"

CTL=${ICEPROBE_CONTROLLER:?set ICEPROBE_CONTROLLER to the iceprobe-controller binary}
CTL_SRC=${ICEPROBE_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CTL_PIDS=()
CTL_DIR=$(mktemp -d /tmp/iceprobe-ctl.XXXXXX)
# The sanitizer build serves plain HTTP on loopback: GCC 12's LeakSanitizer
# crashes at exit scanning the dynamic TLS of glib-networking's GnuTLS module
# (its DTLS range comes out as garbage), and it cannot attach to a process that
# changed its uid. HTTPS and the privilege drop are tested in the normal build.
if [ "${ICEPROBE_SANITIZE:-none}" = none ]; then
	CTL_SCHEME=https
else
	CTL_SCHEME=http
fi
chmod 755 "$CTL_DIR"

ctl_teardown() {
	local p
	for p in "${CTL_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	if [ "${ASSERT_FAILED:-0}" != 0 ] && [ -f "$CTL_DIR/serve.log" ]; then
		echo "--- the controller's log (last 60 lines)" >&2
		tail -n 60 "$CTL_DIR/serve.log" >&2
	fi
	rm -rf "$CTL_DIR"
}
trap ctl_teardown EXIT
trap 'exit 130' INT TERM

# A test that cannot run here fails under CI and skips (77) elsewhere.
ctl_require() { # what why
	if [ "${CI:-}" = true ]; then
		printf '%s: cannot run: %s\n' "${ASSERT_NAME:-test}" "$2" >&2
		exit 1
	fi
	printf '%s: skipped: %s\n' "${ASSERT_NAME:-test}" "$2" >&2
	exit 77
}

# A TCP port nothing listens on, in the dynamic range.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-60999)
		ss -Hltn "sport = :$p" | grep -q . || {
			echo "$p"
			return
		}
	done
	return 1
}

# A CA and a certificate for 127.0.0.1 and localhost, in $CTL_DIR.
make_certs() { make_certs_in "$CTL_DIR"; }

# Writes $CTL_DIR/controller.conf ($CTL_SCHEME on $CTL_PORT) with extra lines appended.
write_config() { # extra...
	CTL_URL=$CTL_SCHEME://127.0.0.1:$CTL_PORT
	mkdir -p "$CTL_DIR/profiles" "$CTL_DIR/state"
	openssl rand -hex 32 >"$CTL_DIR/admin.token"
	openssl rand -hex 32 >"$CTL_DIR/turn.secret"
	cat >"$CTL_DIR/profiles/corp.conf" <<-'PROFILE'
		[profile]
		name = corp-vpn
		[edge]
		host = 203.0.113.10
		[stream]
		duration_s = 2
	PROFILE
	{
		printf '[server]\nlisten = 127.0.0.1:%s\n' "$CTL_PORT"
		if [ "$CTL_SCHEME" = https ]; then
			printf 'tls_cert_file = controller.crt\ntls_key_file = controller.key\n'
			[ "$(id -u)" = 0 ] && printf 'user = nobody\n'
		fi
		printf '[store]\npath = state/controller.db\n[auth]\nadmin_token_file = admin.token\n'
		printf '[turn]\nsecret_file = turn.secret\n[profiles]\ndir = profiles\n'
		printf '%s\n' "$@"
	} >"$CTL_DIR/controller.conf"
	# The store belongs to the user the controller becomes, as the unit's StateDirectory would.
	[ "$(id -u)" = 0 ] && chown nobody "$CTL_DIR/state"
	ADMIN=$(cat "$CTL_DIR/admin.token")
}

# Starts the controller; waits until it answers.
start_controller() {
	setsid "$CTL" serve --config "$CTL_DIR/controller.conf" >>"$CTL_DIR/serve.log" 2>&1 &
	CTL_PID=$!
	CTL_PIDS+=("$CTL_PID")
	for _ in $(seq 100); do
		curl -s -o /dev/null --cacert "$CTL_DIR/ca.pem" "$CTL_URL/metrics" && return 0
		kill -0 "$CTL_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "controller did not start:" >&2
	cat "$CTL_DIR/serve.log" >&2
	return 1
}

# api METHOD PATH [TOKEN] [BODY]: prints the body, then the status on the last line.
api() {
	local args=(-s --cacert "$CTL_DIR/ca.pem" -X "$1" -w '\n%{http_code}')
	[ -n "${3:-}" ] && args+=(-H "Authorization: Bearer $3")
	[ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
	curl "${args[@]}" "$CTL_URL$2"
}
body() { sed '$d'; }
status() { tail -n1; }

