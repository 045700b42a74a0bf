#!/usr/bin/env bash
# The streams benchmark: bench/streams (one process, N concurrent call-shaped
# SRTP streams both ways on loopback, pinned to one CPU): CPU per packet,
# how far from its schedule each packet left, loss. BENCH_STREAMS (default
# "1 10 100") and BENCH_STREAM_SECONDS (default 10) choose the rows.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${ICEPROBE_BUILD:-$here/../build}
# shellcheck disable=SC2086
exec "$build/bench/streams" --seconds "${BENCH_STREAM_SECONDS:-10}" ${BENCH_STREAMS:-1 10 100}
