#!/usr/bin/env bash
# Installs, from Debian's packages, what the tests of issue 13 run when it
# is missing: Prometheus (prometheus and promtool: the metrics tests
# scrape through a real Prometheus and check the daemon's output) and
# tmux (mictl top is tested in a real terminal), and python3 (the
# README's tour holds a port with python3 -m http.server, as a reader
# would). Quiet and quick when all are there already.
set -euo pipefail
missing=()
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
	missing+=(prometheus)
fi
command -v tmux >/dev/null || missing+=(tmux)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "missing ${missing[*]}: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: the tests need the binaries, not the exporters
# and web console libraries Prometheus's package recommends. Where a
# service manager runs, the package also starts a system Prometheus on
# :9090; the tests start their own, on free loopback ports.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v tmux >/dev/null && command -v python3 >/dev/null
