#!/usr/bin/env bash
# A real Kubernetes API server (on etcd) for the tests of `mictl export
# kubernetes`: the objects mictl writes are checked by the engine that
# will run them, not by our idea of it.
#
#   .ci/kube-apiserver.sh ensure
#       installs etcd (Debian's etcd-server) when missing and builds
#       kube-apiserver once into the cache; prints the two paths as env.
#   .ci/kube-apiserver.sh check
#       exits 0 when etcd and the built kube-apiserver are there, else says
#       what is missing and exits 1 (tests skip, or fail under CI=true).
#   .ci/kube-apiserver.sh serve DIR ETCD_PORT ETCD_PEER_PORT APISERVER_PORT
#       starts etcd and kube-apiserver on 127.0.0.1 (data, logs, token file
#       and kubeconfig under DIR), waits until the API server is ready,
#       prints KUBECONFIG=DIR/kubeconfig and "ready", then runs until its
#       standard input closes (or it gets SIGINT/SIGTERM) and stops both.
#       A test gives it a pipe as stdin: when the test ends, however it
#       ends, the pipe closes and nothing is left running.
#
# kube-apiserver is built from the k8s.io/kubernetes module in a throw-away
# module of its own under the cache (never in mictl's go.mod), with every
# staging module (replaced by ./staging/... in kubernetes' own go.mod)
# replaced by its published version. Cold, the build takes about 8 minutes
# on 2 cores; the binary is then reused.
set -euo pipefail

K8S_VERSION=1.34.4
STAGING_VERSION=v0.34.4
CACHE=${MICTL_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mictl/kube-apiserver-v$K8S_VERSION}
APISERVER=$CACHE/kube-apiserver

die() { echo "kube-apiserver.sh: $*" >&2; exit 1; }

ensure_etcd() {
	command -v etcd >/dev/null && return
	command -v apt-get >/dev/null || die "etcd is missing and there is no apt-get: install etcd 3.4+ by hand"
	# The package list may be missing or stale on a fresh machine.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >&2; } ||
		die "could not install etcd-server with apt-get"
}

ensure_kubectl() {
	command -v kubectl >/dev/null && return
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q kubernetes-client >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q kubernetes-client >&2; } ||
		die "could not install kubernetes-client (kubectl) with apt-get"
}

build_apiserver() {
	[ -x "$APISERVER" ] && return
	local src=$CACHE/src start=$SECONDS
	mkdir -p "$src"
	echo "kube-apiserver.sh: building kube-apiserver v$K8S_VERSION into $CACHE (once; ~8 min cold on 2 cores)" >&2
	cd "$src"
	rm -f go.mod go.sum
	go mod init mictl.local/kube-apiserver >/dev/null 2>&1
	local gomod
	gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	[ -f "$gomod" ] || die "could not download k8s.io/kubernetes@v$K8S_VERSION"
	local args=(-require="k8s.io/kubernetes@v$K8S_VERSION")
	local mod
	for mod in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
		args+=(-replace="$mod=$mod@$STAGING_VERSION")
	done
	[ "${#args[@]}" -gt 20 ] || die "found too few staging modules in $gomod"
	go mod edit "${args[@]}"
	go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" >&2
	# The version is what `kubectl version` and the compatibility checks
	# read; a plain build would call itself v0.0.0-master.
	local pkg=k8s.io/component-base/version
	CGO_ENABLED=0 go build -trimpath -o "$APISERVER.tmp" -ldflags "-s -w \
		-X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION%%.*} \
		-X $pkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $pkg.gitTreeState=clean" \
		k8s.io/kubernetes/cmd/kube-apiserver
	mv "$APISERVER.tmp" "$APISERVER"
	echo "kube-apiserver.sh: built in $((SECONDS - start)) s" >&2
}

cmd_ensure() {
	ensure_etcd
	ensure_kubectl
	(build_apiserver)
	echo "MICTL_KUBE_APISERVER=$APISERVER"
	echo "MICTL_ETCD=$(command -v etcd)"
}

wait_ready() { # url, what, pid, log, [curl args...]
	local url=$1 what=$2 pid=$3 log=$4 i
	shift 4
	for i in $(seq 1 600); do
		curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null && return
		kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "$what exited before it was ready (log: $log)"; }
		sleep 0.1
	done
	tail -20 "$log" >&2
	die "$what was not ready at $url within 60 s (log: $log)"
}

# stop_servers stops the API server, then etcd (an API server whose etcd
# is gone hangs in its shutdown), each with SIGTERM and, 10 s later,
# SIGKILL.
stop_servers() {
	local i p
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		p=${pids[i]}
		kill "$p" 2>/dev/null || continue
		timeout 10 tail --pid="$p" -f /dev/null || kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

cmd_serve() {
	[ $# -eq 4 ] || die "usage: $0 serve DIR ETCD_PORT ETCD_PEER_PORT APISERVER_PORT"
	local dir=$1 etcd_port=$2 peer_port=$3 api_port=$4
	[ -x "$APISERVER" ] || die "no kube-apiserver at $APISERVER: run '$0 ensure' (make test-deps) first"
	command -v etcd >/dev/null || die "no etcd: run '$0 ensure' (make test-deps) first"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# Background jobs of a script read /dev/null: keep the real stdin.
	exec 3<&0
	# Global, not local: the EXIT trap runs after this function returned.
	pids=()
	trap stop_servers EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT

	etcd --name mictl-test --data-dir "$dir/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
		--initial-cluster "mictl-test=http://127.0.0.1:$peer_port" </dev/null >"$dir/etcd.log" 2>&1 &
	pids+=($!)
	wait_ready "http://127.0.0.1:$etcd_port/health" etcd "${pids[0]}" "$dir/etcd.log"

	# Service-account tokens need a signing key; the admin logs in with a
	# static token (RBAC lets group system:masters do everything).
	local token
	token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	[ -f "$dir/sa.key" ] || openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
	printf '%s,admin,admin,system:masters\n' "$token" >"$dir/tokens.csv"
	chmod 600 "$dir/tokens.csv"
	"$APISERVER" --etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
		--cert-dir "$dir/certs" --token-auth-file "$dir/tokens.csv" --authorization-mode RBAC \
		--service-account-issuer https://kubernetes.default.svc --service-account-key-file "$dir/sa.key" \
		--service-account-signing-key-file "$dir/sa.key" --service-cluster-ip-range 10.0.0.0/24 \
		--enable-priority-and-fairness=false </dev/null >"$dir/kube-apiserver.log" 2>&1 &
	pids+=($!)
	wait_ready "https://127.0.0.1:$api_port/readyz" kube-apiserver "${pids[1]}" "$dir/kube-apiserver.log" \
		-k -H "Authorization: Bearer $token"

	cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mictl-test
  cluster:
    server: https://127.0.0.1:$api_port
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $token
contexts:
- name: mictl-test
  context: {cluster: mictl-test, user: admin}
current-context: mictl-test
EOF
	chmod 600 "$dir/kubeconfig"
	echo "KUBECONFIG=$dir/kubeconfig"
	echo ready
	# Run until stdin closes; `read` returns at EOF and the EXIT trap stops
	# both servers. A server dying early ends the wait too.
	cat <&3 >/dev/null &
	local reader=$!
	wait -n "$reader" "${pids[@]}" || true
	kill "$reader" 2>/dev/null || true
}

cmd_check() {
	local missing=()
	[ -x "$APISERVER" ] || missing+=("kube-apiserver (not built at $APISERVER)")
	command -v etcd >/dev/null || missing+=("etcd")
	command -v kubectl >/dev/null || missing+=("kubectl")
	[ ${#missing[@]} -eq 0 ] && return
	echo "missing: ${missing[*]}; run '$0 ensure' (make test-deps)" >&2
	exit 1
}

case ${1:-} in
ensure) shift; cmd_ensure "$@" ;;
check) shift; cmd_check ;;
serve) shift; cmd_serve "$@" ;;
*) die "usage: $0 ensure | check | serve DIR ETCD_PORT ETCD_PEER_PORT APISERVER_PORT" ;;
esac
