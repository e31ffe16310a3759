#!/bin/sh
# Written by `mictl export compose`: the entrypoint of every MI service,
# mounted read-only. Usage: entrypoint.sh START_SCRIPT [ARGUMENT...]
#
# Docker stops a container with a SIGTERM to its PID 1. WSO2's own
# entrypoint is a sh that runs MI's start script without exec: as PID 1 it
# ignores the TERM (no handler), and a TERM to the start script would leave
# both JVMs running. Only a TERM to the MI java (the pid in
# $CARBON_HOME/wso2carbon.pid) makes MI drain and shut down, which is what
# the start script's own --stop sends. So this PID 1 runs the start script
# as a child, as WSO2's entrypoint does, and on TERM or INT runs
# `START_SCRIPT --stop`; MI drains (up to 180 s, within stop_grace_period),
# java exits, the start script with it, and this script then exits with
# the start script's status.
#
# MI writes wso2carbon.pid as its java starts. A pid file there when the
# container starts is its previous run's (Docker's restart policy keeps
# the container's files) and names no MI: it goes first, and a stop that
# comes before MI wrote its own waits for it (or for the start script to
# end), rather than signal nothing, or a stranger.
start=$1
shift
pidfile=$(dirname "$(dirname "$start")")/wso2carbon.pid
rm -f "$pidfile"
mi=
trapped=
stop() {
	trapped=1
	while [ ! -s "$pidfile" ] && { [ -z "$mi" ] || kill -0 "$mi" 2>/dev/null; }; do
		sleep 1
	done
	[ -s "$pidfile" ] && sh "$start" --stop
}
trap stop TERM INT
sh "$start" "$@" &
mi=$!
# A trapped signal ends a wait early (a status above 128, the trap run
# before the next command): wait again, while MI drains, for the start
# script's own status, which the shell keeps for it even when it ended
# during the trap.
while :; do
	trapped=
	wait "$mi"
	status=$?
	[ -n "$trapped" ] && [ "$status" -gt 128 ] || break
done
exit "$status"
