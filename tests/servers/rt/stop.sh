#!/usr/bin/env bash
# Stops the rt-server that setup.sh --background started: TERM to its process group, then KILL
# after 10 s. Uses only the pid file, and signals that pid only if it is still rt-server.
set -euo pipefail
state=${RT_STATE_DIR:-/tmp/rt5-test}
pidfile=$state/rt-server.pid

[ -s "$pidfile" ] || { echo "stop.sh: no pid file at $pidfile, nothing to stop" >&2; exit 0; }
pid=$(cat "$pidfile")
is_rt() { [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'rt-server'; }

if ! is_rt; then
  echo "stop.sh: pid $pid is not rt-server (a stale pid file), removing it" >&2
  rm -f "$pidfile"
  exit 0
fi
kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 100); do
  is_rt || break
  sleep 0.1
done
if is_rt; then
  echo "stop.sh: rt-server $pid still running after 10 s, killing it" >&2
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$pidfile"
echo "stop.sh: stopped rt-server $pid" >&2
