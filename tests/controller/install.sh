#!/usr/bin/env bash
# `meson install` puts both binaries, the controller's systemd unit and user, the
# example configuration and the docs where a system looks for them; the unit
# passes systemd-analyze verify.
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
assert_match "its user comes from sysusers.d" "$(cat "$root/lib/sysusers.d/iceprobe.conf")" '^u iceprobe '
assert_ok "the example configuration is installed" test -s "$root/share/doc/iceprobe/examples/controller.conf"
assert_ok "and the docs" test -s "$root/share/doc/iceprobe/contract.md"
if command -v systemd-analyze >/dev/null; then
	sed "s|$prefix/bin/|$root/bin/|" "$unit" >"$dest/iceprobe-controller.service"
	v=$(systemd-analyze verify "$dest/iceprobe-controller.service" 2>&1)
	assert_eq "systemd-analyze verify accepts the unit" "$?/$v" "0/"
elif [ "${CI:-}" = true ]; then
	_assert_report FAIL "systemd-analyze verify accepts the unit" "systemd-analyze is not installed"
fi
assert_summary
