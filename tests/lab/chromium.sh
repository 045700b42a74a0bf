# shellcheck shell=bash
# chromium_load OUT URL [PREFIX...]: loads URL in headless Chromium (run under
# PREFIX, e.g. `lab_exec ctl` for a lab node): the DOM in OUT.dom, a screenshot
# in OUT.png, and every console message the page caused in OUT.console.
# Chromium trusts no CA of ours, so certificate errors are ignored here: curl
# checks the certificate. Its profiles go beside OUT.
chromium_load() {
	local out=$1 url=$2 flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
		--disable-background-networking --disable-component-update --disable-sync
		--ignore-certificate-errors --enable-logging=stderr --v=0 --window-size=1280,1250)
	shift 2
	"$@" timeout 60 chromium "${flags[@]}" --user-data-dir="$out.chromium-$RANDOM" --dump-dom "$url" \
		>"$out.dom" 2>"$out.log"
	"$@" timeout 60 chromium "${flags[@]}" --user-data-dir="$out.chromium-$RANDOM" \
		--screenshot="$out.png" "$url" >/dev/null 2>>"$out.log"
	grep -F ':CONSOLE' "$out.log" >"$out.console" || true
}
