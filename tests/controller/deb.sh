#!/usr/bin/env bash
# The Debian packages as an admin meets them: `./run deb` builds iceprobe and
# iceprobe-controller (lintian clean), apt installs both into a clean Debian 12
# (debootstrap minbase, from the archive this machine's apt uses, so that their
# dependencies come from there), the controller starts, an agent is added, and
# the packaged agent is heard over HTTPS on loopback.
#
# systemd cannot be PID 1 here (no systemd on the host, so systemd-nspawn has no
# bus to register with): the chroot starts each program as its unit would (its
# ExecStartPre and ExecStart, its User=, EnvironmentFile= and StateDirectory=),
# and systemd-analyze verifies the installed units in the chroot.
#
# The debootstrap root is kept as a tarball in $ICEPROBE_TEST_CACHE
# (/var/cache/iceprobe-test), named for the archives and proxy it came from, and
# the packages apt fetched beside it; the .debs are kept per content of the work
# tree (or ICEPROBE_DEBS names a directory `./run deb` filled, dist/deb). A second
# run makes none of them again.
# shellcheck disable=SC2016 # dpkg-query's ${Field} formats are its own
set -u
. "$(dirname "$0")/helpers.sh"
ASSERT_NAME=deb
SRC=${ICEPROBE_SOURCE_ROOT:?set ICEPROBE_SOURCE_ROOT to the source tree}
CACHE=${ICEPROBE_TEST_CACHE:-/var/cache/iceprobe-test}
SUITE=bookworm
ROOTFS=""
MOUNTS=()

[ "$(id -u)" = 0 ] || ctl_require root "debootstrap and chroot need root"
for tool in debootstrap dpkg-buildpackage lintian chroot curl jq git; do
	command -v "$tool" >/dev/null || ctl_require "$tool" "$tool is not installed (./run installs it)"
done

deb_teardown() {
	local m
	for ((m = ${#MOUNTS[@]} - 1; m >= 0; m--)); do
		umount "${MOUNTS[m]}" 2>/dev/null || umount -l "${MOUNTS[m]}"
	done
	[ -n "$ROOTFS" ] || return 0
	if findmnt -rno TARGET | grep -q "^$ROOTFS/"; then
		echo "deb: something is still mounted under $ROOTFS: left in place" >&2
		return
	fi
	rm -rf --one-file-system "$ROOTFS"
}
trap 'ctl_teardown; deb_teardown' EXIT
mkdir -p "$CACHE"
exec 9>"$CACHE/deb.lock"
flock 9

# The archives this machine's apt uses for Debian $SUITE itself, as "URI SUITE"
# lines: the enabled deb entries with main, from the sources.list and the
# sources.list.d apt reads (one-line .list and deb822 .sources files).
host_archives() {
	local list parts
	eval "$(apt-config shell list Dir::Etc::sourcelist/f parts Dir::Etc::sourceparts/d)"
	{
		[ -f "$list" ] && cat "$list"
		for f in "$parts"/*.list; do [ -f "$f" ] && cat "$f"; done
	} | awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
		for (c = i + 2; c <= NF; c++) if ($c == "main") { print $i, $(i + 1); next } }'
	for f in "$parts"/*.sources; do
		[ -f "$f" ] || continue
		awk 'function flush() {
				if (f["types"] ~ /(^| )deb( |$)/ && f["components"] ~ /(^| )main( |$)/ && tolower(f["enabled"]) != "no") {
					n = split(f["uris"], u, " "); m = split(f["suites"], s, " ")
					for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[i], s[j]
				}
				delete f
			}
			/^#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ { f[key] = f[key] " " $0; next }
			{ key = tolower(substr($1, 1, length($1) - 1)); $1 = ""; sub(/^ +/, ""); f[key] = $0 }
			END { flush() }' "$f"
	done
}
archives=$(host_archives | awk -v s="$SUITE" '$2 ~ "^" s "(-updates|-security)?$"' | sort -u)
MIRROR=$(awk -v s="$SUITE" '$2 == s { print $1; exit }' <<<"$archives")
[ -n "$MIRROR" ] || ctl_require mirror "apt's sources name no Debian $SUITE archive with main"
# What apt here needs to reach it: a proxy, and whether it checks a Release's dates.
eval "$(apt-config shell HTTP_PROXY_CONF Acquire::http::Proxy HTTPS_PROXY_CONF Acquire::https::Proxy \
	VALID_UNTIL Acquire::Check-Valid-Until CHECK_DATE Acquire::Check-Date)"
apt_conf=""
[ -n "${HTTP_PROXY_CONF:-}" ] && apt_conf+="Acquire::http::Proxy \"$HTTP_PROXY_CONF\";"$'\n'
[ -n "${HTTPS_PROXY_CONF:-}" ] && apt_conf+="Acquire::https::Proxy \"$HTTPS_PROXY_CONF\";"$'\n'
[ -n "${VALID_UNTIL:-}" ] && apt_conf+="Acquire::Check-Valid-Until \"$VALID_UNTIL\";"$'\n'
[ -n "${CHECK_DATE:-}" ] && apt_conf+="Acquire::Check-Date \"$CHECK_DATE\";"$'\n'
printf 'archives (from apt here):\n%s\nproxy: %s\n' "$archives" "${HTTP_PROXY_CONF:-none}"

section "the packages (./run deb)"
src_hash=$(cd "$SRC" && git ls-files -z -c -o --exclude-standard | xargs -0 sha256sum 2>/dev/null | sha256sum | cut -c1-16)
DEBS=${ICEPROBE_DEBS:-$CACHE/deb-$src_hash}
if [ -n "${ICEPROBE_DEBS:-}" ]; then
	echo "the packages in ICEPROBE_DEBS=$DEBS (as ./run deb left them)"
	ls "$DEBS"/iceprobe_*.changes >/dev/null 2>&1 || ctl_require debs "no packages in $DEBS"
elif ! ls "$DEBS"/iceprobe_*.changes >/dev/null 2>&1; then
	find "$CACHE" -maxdepth 1 -name 'deb-*' -type d -exec rm -rf {} +
	t0=$(date +%s)
	ICEPROBE_DEB_OUT=$DEBS "$SRC/run" deb >"$CTL_DIR/run-deb.log" 2>&1
	rc=$?
	echo "./run deb: $(($(date +%s) - t0)) s"
	assert_eq "./run deb builds both packages and lintian finds no error or warning" "$rc" 0
	[ "$rc" = 0 ] || {
		tail -n 30 "$CTL_DIR/run-deb.log" >&2
		rm -rf "$DEBS"
		assert_summary
		exit
	}
else
	echo "the packages of this work tree are in $DEBS already"
fi
assert_eq "lintian's report has no error or warning" "$(grep -cE '^[EW]: ' "$DEBS/lintian.txt")" 0
ls -l "$DEBS"/*.deb

section "a clean Debian 12 ($SUITE, minbase) from $MIRROR"
key=$(printf '%s\n%s\n%s' "$archives" "${HTTP_PROXY_CONF:-}" "$(dpkg-query -W -f='${Version}' debootstrap)" |
	sha256sum | cut -c1-12)
TARBALL=$CACHE/$SUITE-minbase-$key.tar
ROOTFS=$(mktemp -d /var/tmp/iceprobe-deb-root.XXXXXX)
t0=$(date +%s)
if [ -f "$TARBALL" ]; then
	tar -xpf "$TARBALL" --numeric-owner -C "$ROOTFS" || ctl_require root "cannot unpack $TARBALL"
	echo "set-up (warm: the cached root): $(($(date +%s) - t0)) s"
else
	http_proxy=${HTTP_PROXY_CONF:-${http_proxy:-}} nice debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" \
		>"$CTL_DIR/debootstrap.log" 2>&1 || {
		tail -n 20 "$CTL_DIR/debootstrap.log" >&2
		ctl_require debootstrap "debootstrap from $MIRROR failed"
	}
	find "$CACHE" -maxdepth 1 -name "$SUITE-minbase-*.tar" -delete # a root from other archives
	tar -cpf "$TARBALL.tmp" --numeric-owner -C "$ROOTFS" . && mv "$TARBALL.tmp" "$TARBALL"
	echo "set-up (cold: debootstrap, then cached as $TARBALL): $(($(date +%s) - t0)) s"
fi
chmod 755 "$ROOTFS" # the root's /, which its users must traverse (mktemp made it 0700)
in_root() { chroot "$ROOTFS" "$@"; }
for m in proc sys dev; do
	case $m in
	proc) mount -t proc proc "$ROOTFS/proc" ;;
	sys) mount -t sysfs sysfs "$ROOTFS/sys" ;;
	dev) mount --bind /dev "$ROOTFS/dev" ;;
	esac || ctl_require mount "cannot mount /$m in the root"
	MOUNTS+=("$ROOTFS/$m")
done
# apt's lists and the packages it fetched stay in the cache between runs.
for d in var/cache/apt/archives var/lib/apt/lists; do
	mkdir -p "$CACHE/apt-${d##*/}/partial"
	mount --bind "$CACHE/apt-${d##*/}" "$ROOTFS/$d" || ctl_require mount "cannot bind $CACHE/apt-${d##*/}"
	MOUNTS+=("$ROOTFS/$d")
done
cat /etc/resolv.conf >"$ROOTFS/etc/resolv.conf"
awk '{ print "deb", $1, $2, "main" }' <<<"$archives" >"$ROOTFS/etc/apt/sources.list"
printf '%s' "$apt_conf" >"$ROOTFS/etc/apt/apt.conf.d/99host"
# No service of the root's starts in it (the usual for a chroot).
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
assert_eq "the root has no iceprobe yet" "$(in_root dpkg-query -W iceprobe iceprobe-controller 2>/dev/null)" ""

section "apt installs both packages, their dependencies from the archive"
mkdir -p "$ROOTFS/tmp/debs"
cp "$DEBS"/iceprobe_*.deb "$DEBS"/iceprobe-controller_*.deb "$ROOTFS/tmp/debs/"
debs=()
for f in "$ROOTFS"/tmp/debs/iceprobe_*.deb "$ROOTFS"/tmp/debs/iceprobe-controller_*.deb; do
	debs+=("/tmp/debs/${f##*/}")
done
apt_install() {
	DEBIAN_FRONTEND=noninteractive nice chroot "$ROOTFS" apt-get install -y -q --no-install-recommends "$@" \
		>>"$CTL_DIR/apt.log" 2>&1
	rc=$?
	[ "$rc" = 0 ] || tail -n 30 "$CTL_DIR/apt.log" >&2
	return "$rc"
}
t0=$(date +%s)
in_root apt-get update -q >"$CTL_DIR/apt.log" 2>&1
t1=$(date +%s)
# First the probe alone, as on a test host: a profile with the edge's CA loads
# (GIO's TLS backend, glib-networking, is a dependency of its own: without it,
# "TLS support is not available").
apt_install "${debs[0]}"
assert_eq "apt-get install of iceprobe alone succeeds" "$?" 0
profile=$ROOTFS/tmp/profile
mkdir -p "$profile"
cp "$ROOTFS/usr/share/doc/iceprobe/examples/sfb-edge-split-tunnel.conf" "$profile/"
openssl rand -hex 32 >"$profile/turn.secret"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=edge-ca \
	-keyout "$profile/edge-ca.key" -out "$profile/edge-ca.pem" 2>/dev/null
assert_ok "iceprobe reads the shipped example profile with its edge CA" \
	in_root iceprobe interfaces --profile /tmp/profile/sfb-edge-split-tunnel.conf
apt_install "${debs[@]}"
assert_eq "apt-get install of both succeeds" "$?" 0
echo "apt-get update: $((t1 - t0)) s, install: $(($(date +%s) - t1)) s" \
	"($(grep -oE '^Need to get [^ ]+ [kMG]?B(/[^ ]+ [kMG]?B)?' "$CTL_DIR/apt.log" | tr '\n' ' ' || echo 'nothing to get'))"
assert_eq "both are installed" "$(in_root dpkg-query -W -f='${Package} ${Status}\n' iceprobe iceprobe-controller)" \
	$'iceprobe install ok installed\niceprobe-controller install ok installed'
assert_eq "the configuration is conffiles" \
	"$(in_root dpkg-query -W -f='${Conffiles}\n' iceprobe iceprobe-controller | awk 'NF { print $1 }')" \
	$'/etc/iceprobe/agent.env\n/etc/iceprobe/controller.conf'
assert_match "postinst made the users (sysusers)" "$(in_root getent passwd iceprobe iceprobe-agent | cut -d: -f1,6)" \
	$'^iceprobe:/var/lib/iceprobe\niceprobe-agent:/var/lib/iceprobe-agent$'
assert_eq "and the store's directory, the controller's" "$(in_root stat -c '%U %a' /var/lib/iceprobe)" "iceprobe 750"
assert_eq "and a 256-bit admin token, root's alone" \
	"$(in_root stat -c '%U %a' /etc/iceprobe/admin.token) $(grep -cE '^[0-9a-f]{64}$' "$ROOTFS/etc/iceprobe/admin.token")" "root 600 1"
assert_eq "and a TLS key, root's alone" "$(in_root stat -c '%U %a' /etc/iceprobe/controller.key)" "root 600"
assert_match "with a certificate for this host's name and loopback" \
	"$(openssl x509 -in "$ROOTFS/etc/iceprobe/controller.crt" -noout -ext subjectAltName 2>&1)" \
	"DNS:$(hostname).*IP Address:127\.0\.0\.1"
assert_eq "neither service is enabled before its secrets are there" \
	"$(in_root systemctl is-enabled iceprobe-controller.service iceprobe-agent.service 2>&1 | tr '\n' ' ')" "disabled disabled "
for u in iceprobe-controller iceprobe-agent; do
	v=$(in_root systemd-analyze verify "/lib/systemd/system/$u.service" 2>&1)
	assert_eq "systemd-analyze verify accepts the installed $u.service" "$?/$v" "0/"
done
assert_ok "the manual pages are installed" in_root test -s /usr/share/man/man1/iceprobe-controller.1.gz

section "the controller starts as its unit starts it"
CTL_PORT=$(free_port) || ctl_require port "no free port"
etc=$ROOTFS/etc/iceprobe
# The admin's part: the edge's TURN secret, and a port on loopback for the test.
(umask 077 && openssl rand -hex 32 >"$etc/turn.secret")
sed -i "s|^listen = [^ ;]*|listen = 127.0.0.1:$CTL_PORT|" "$etc/controller.conf"
out=$(in_root iceprobe-controller agent-add --config /etc/iceprobe/controller.conf --name deb-laptop --group vpn 2>&1)
TOKEN=$(tail -n1 <<<"$out")
assert_match "agent-add registers an agent before the first start" "$TOKEN" '^[0-9a-f]{64}$'
unit=$ROOTFS/lib/systemd/system/iceprobe-controller.service
read -ra pre <<<"$(sed -n 's/^ExecStartPre=//p' "$unit")"
read -ra argv <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
assert_ok "its ExecStartPre runs" in_root "${pre[@]}"
setsid chroot "$ROOTFS" "${argv[@]}" >>"$CTL_DIR/serve.log" 2>&1 &
CTL_PIDS+=("$!")
cp "$etc/controller.crt" "$CTL_DIR/ca.pem"
CTL_URL=https://127.0.0.1:$CTL_PORT
for _ in $(seq 100); do
	curl -s -o /dev/null --cacert "$CTL_DIR/ca.pem" "$CTL_URL/metrics" && break
	kill -0 "${CTL_PIDS[0]}" 2>/dev/null || break
	sleep 0.1
done
assert_ok "it answers over HTTPS with the certificate postinst made" \
	curl -sf -o /dev/null --cacert "$CTL_DIR/ca.pem" "$CTL_URL/metrics"
assert_eq "started as root, it runs as iceprobe" "$(awk '/^Uid:/ { print $2 }' "/proc/${CTL_PIDS[0]}/status")" \
	"$(in_root id -u iceprobe)"
ADMIN=$(cat "$etc/admin.token")
assert_eq "the admin token postinst made opens the admin API" "$(api GET /api/v1/agents "$ADMIN" | status)" 200

section "the packaged agent is heard"
# The admin's part on the agent's host: its token (the agent's user's alone),
# the controller's URL and the controller's certificate as its CA.
printf '%s\n' "$TOKEN" >"$etc/agent.token"
in_root chown iceprobe-agent: /etc/iceprobe/agent.token
chmod 600 "$etc/agent.token"
cp "$etc/controller.crt" "$etc/controller-ca.pem"
sed -i "s|^CONTROLLER=.*|CONTROLLER=$CTL_URL|" "$etc/agent.env"
unit=$ROOTFS/lib/systemd/system/iceprobe-agent.service
user=$(sed -n 's/^User=//p' "$unit")
state=$(sed -n 's/^StateDirectory=//p' "$unit")
assert_eq "the agent's unit names its user and state directory" "$user/$state" iceprobe-agent/iceprobe-agent
# As systemd would: StateDirectory= made 0700 for the user, EnvironmentFile=
# read, ${VAR} one word, $VAR split at blanks.
install -d -m 0700 "$ROOTFS/var/lib/$state"
in_root chown "$user:" "/var/lib/$state"
start=$(sed -n 's/^ExecStart=//p' "$unit")
while IFS='=' read -r k v; do
	[[ $k =~ ^[A-Z_]+$ ]] || continue
	start=${start//\$\{$k\}/$v}
	start=${start//\$$k/$v}
done <"$etc/agent.env"
read -ra argv <<<"$start"
setsid chroot --userspec="$user:$user" "$ROOTFS" env -i STATE_DIRECTORY="/var/lib/$state" \
	HOME="/var/lib/$state" PATH=/usr/bin:/bin "${argv[@]}" >"$CTL_DIR/agent.log" 2>&1 &
AGENT_PID=$!
CTL_PIDS+=("$AGENT_PID")
seen=null
for _ in $(seq 150); do
	seen=$(api GET /api/v1/agents "$ADMIN" | body | jq -r '.agents[] | select(.name == "deb-laptop") | .last_seen')
	[ "$seen" != null ] && [ -n "$seen" ] && break
	kill -0 "$AGENT_PID" 2>/dev/null || break
	sleep 0.2
done
assert_match "GET /api/v1/agents shows deb-laptop last seen" "$seen" '^20[0-9]{2}-'
version=$(in_root dpkg-query -W -f='${Version}' iceprobe)
assert_eq "with the packaged agent's version" \
	"$(api GET /api/v1/agents "$ADMIN" | body | jq -r '.agents[] | select(.name == "deb-laptop") | .version')" "$version"
assert_eq "the agent runs as iceprobe-agent" "$(awk '/^Uid:/ { print $2 }' "/proc/$AGENT_PID/status")" \
	"$(in_root id -u iceprobe-agent)"
[ "$seen" != null ] || tail -n 20 "$CTL_DIR/agent.log" >&2

section "purge"
for p in "${CTL_PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
CTL_PIDS=()
DEBIAN_FRONTEND=noninteractive in_root apt-get purge -y -q iceprobe iceprobe-controller >>"$CTL_DIR/apt.log" 2>&1
assert_eq "apt-get purge succeeds" "$?" 0
assert_eq "it removes what postinst made; the admin's turn.secret, agent.token and CA stay" \
	"$(cd "$ROOTFS" && find etc/iceprobe -mindepth 1 | sort | tr '\n' ' ')" \
	"etc/iceprobe/agent.token etc/iceprobe/controller-ca.pem etc/iceprobe/turn.secret "
assert_fails "and the SQLite store" test -e "$ROOTFS/var/lib/iceprobe"
assert_summary
