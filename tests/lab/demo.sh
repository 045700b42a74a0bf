#!/usr/bin/env bash
# ./run demo: bring up the network lab, show that each part is real, tear it down.
set -u
here=$(dirname "$0")
cat <<'TXT'
iceprobe demo: a VPN laptop behind a home NAT, a WireGuard tunnel to a VPN gateway
with an nftables firewall, an A/V edge running coturn (UDP/TCP 3478, TLS 443), a corp
host, an external host, and split DNS — each in its own network namespace.

TXT
bash "$here/smoke.sh"
