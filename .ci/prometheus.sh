#!/usr/bin/env bash
# Installs Prometheus (the prometheus and promtool binaries) from Debian's
# package when missing: the metrics integration tests start a real
# Prometheus on loopback and check the daemon's output with promtool.
# Idempotent and quiet when both are already there.
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "prometheus/promtool missing: run as root, or: sudo apt-get install -y prometheus" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: the tests need the two binaries, not the
# exporters and web console libraries the package recommends.
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# The package starts a system-wide Prometheus on :9090 where a service
# manager runs; the tests start their own, on free loopback ports.
command -v prometheus >/dev/null && command -v promtool >/dev/null
