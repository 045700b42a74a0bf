#!/usr/bin/env bash
# `meson install` puts both binaries, the controller's systemd unit and user, the
# example configuration, the docs, the alerting rules and the Grafana dashboard
# where a system looks for them; the unit passes systemd-analyze verify.
set -u
. "$(dirname "$0")/../lab/assert.sh"
ASSERT_NAME=install
BUILD=${ICEPROBE_BUILD_ROOT:?set ICEPROBE_BUILD_ROOT to the build directory}
dest=$(mktemp -d /tmp/iceprobe-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
out=$(meson install -C "$BUILD" --no-rebuild --destdir "$dest" 2>&1)
assert_eq "meson install succeeds" "$?" 0
prefix=$(meson introspect "$BUILD" --buildoptions | jq -r '.[] | select(.name == "prefix") | .value')
root=$dest$prefix
for b in iceprobe iceprobe-controller; do
	assert_match "$b is installed and runs" "$("$root/bin/$b" --version 2>&1)" "^$b [0-9]"
done
unit=$root/lib/systemd/system/iceprobe-controller.service
assert_match "the unit starts the installed controller" "$(grep ^ExecStart= "$unit")" \
	"^ExecStart=$prefix/bin/iceprobe-controller serve --config /etc/iceprobe/controller.conf$"
assert_match "with a state directory for its store" "$(grep ^StateDirectory= "$unit")" iceprobe
assert_match "its user comes from sysusers.d" "$(cat "$root/lib/sysusers.d/iceprobe-controller.conf")" '^u iceprobe '
agent_unit=$root/lib/systemd/system/iceprobe-agent.service
assert_match "the agent's unit starts the installed agent" "$(grep ^ExecStart= "$agent_unit")" \
	"^ExecStart=$prefix/bin/iceprobe agent --controller "
assert_match "as its own user" "$(grep ^User= "$agent_unit")" '^User=iceprobe-agent$'
assert_match "restarting on failure" "$(grep ^Restart= "$agent_unit")" '^Restart=on-failure$'
assert_match "whose user comes from sysusers.d too" "$(cat "$root/lib/sysusers.d/iceprobe-agent.conf")" '^u iceprobe-agent '
assert_ok "the example configuration is installed" test -s "$root/share/doc/iceprobe/examples/controller.conf"
assert_ok "and the agent's environment file" test -s "$root/share/doc/iceprobe/examples/agent.env"
assert_ok "and the docs" test -s "$root/share/doc/iceprobe/contract.md"
assert_ok "and Prometheus' alerting rules" test -s "$root/share/iceprobe/iceprobe.rules.yml"
assert_eq "and the Grafana dashboard, as dist/ has it" \
	"$(jq -r .uid "$root/share/iceprobe/grafana/iceprobe.json" 2>&1)/$(cmp "$root/share/iceprobe/grafana/iceprobe.json" \
		"$(dirname "$0")/../../dist/grafana/iceprobe.json" 2>&1)" "iceprobe/"
# The manual pages name every option of every command (so they cannot drift from --help).
for b in iceprobe:interfaces,run,report,agent iceprobe-controller:serve,agent-add,agent-list,agent-remove; do
	bin=${b%%:*}
	page=$root/share/man/man1/$bin.1
	assert_ok "$bin(1) is installed" test -s "$page"
	missing=""
	for cmd in $(tr , ' ' <<<"${b#*:}"); do
		for opt in $("$root/bin/$bin" "$cmd" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
			grep -qF -- "$(sed 's/-/\\-/g' <<<"$opt")" "$page" || missing="$missing $cmd$opt"
		done
	done
	assert_eq "$bin(1) names every option of its commands" "$missing" ""
done
if command -v systemd-analyze >/dev/null; then
	sed "s|$prefix/bin/|$root/bin/|" "$unit" >"$dest/iceprobe-controller.service"
	v=$(systemd-analyze verify "$dest/iceprobe-controller.service" 2>&1)
	assert_eq "systemd-analyze verify accepts the unit" "$?/$v" "0/"
	sed "s|$prefix/bin/|$root/bin/|" "$agent_unit" >"$dest/iceprobe-agent.service"
	v=$(systemd-analyze verify "$dest/iceprobe-agent.service" 2>&1 | grep -v 'agent.env')
	assert_eq "and the agent's unit" "$v" ""
elif [ "${CI:-}" = true ]; then
	_assert_report FAIL "systemd-analyze verify accepts the unit" "systemd-analyze is not installed"
fi
assert_summary
