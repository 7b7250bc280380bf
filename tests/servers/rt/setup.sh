#!/usr/bin/env bash
# A real Request Tracker 5 on 127.0.0.1:PORT for the RT tests, from Debian 12's own packages
# with SQLite. Installs the packages when missing, writes a local config, sets the root
# password, makes sure the queue "IT Support" and a REST2 auth token exist, starts rt-server.
#
#   setup.sh [PORT] [--background]     (PORT defaults to 8080; run as root)
#
# Prints RT_URL=, RT_REST2=, RT_TOKEN=, RT_QUEUE= lines on stdout (and nothing else there), so
# a caller can `eval` them. Safe to run again: the install is skipped, the token reused.
# Knobs: RT_ROOT_PASS (rt-pass), RT_STATE_DIR (/tmp/rt5-test), RT_WORKERS (2),
# RT_AGENT_EMAIL (grace@example.com: an agent who may own tickets in the queue),
# RT_RESET_DB=1 (start from an empty database), RT_SKIP_APT_UPDATE=1, RT_BCRYPT_COST (4).
#
# RT_BCRYPT_COST: RT checks the token (or password) with bcrypt on every request, at cost 12 by
# default: ~0.3-0.4 s a request on a small machine. This test instance hashes the token and the
# password at cost 4 (RT's minimum) unless told otherwise, so the suite's requests take
# milliseconds; the request *counts* the bot makes are the same. RT_BCRYPT_COST=12 gives
# RT's own cost (re-run with RT_RESET_DB=1 so the token is hashed again).
set -euo pipefail

port=8080
background=0
for arg in "$@"; do
  case "$arg" in
    --background) background=1 ;;
    ''|*[!0-9]*) echo "setup.sh: unknown argument '$arg' (want PORT and/or --background)" >&2; exit 2 ;;
    *) port=$arg ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
state=${RT_STATE_DIR:-/tmp/rt5-test}
root_pass=${RT_ROOT_PASS:-rt-pass}
workers=${RT_WORKERS:-2}
queue="IT Support"
packages=(request-tracker5 rt5-db-sqlite rt5-standalone rt5-clients msmtp-mta w3m)
db=/var/lib/dbconfig-common/sqlite3/request-tracker5/rtdb
site_config=/etc/request-tracker5/RT_SiteConfig.d/99-local-test.pm
rt_lib=/usr/share/request-tracker5/lib
rt_server=/usr/share/request-tracker5/libexec/rt-server
bcrypt_cost=${RT_BCRYPT_COST:-4}

log() { echo "setup.sh: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs Debian packages and runs RT's setup)"
mkdir -p "$state"

installed() {
  local p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
  done
}

preseed() {
  debconf-set-selections <<EOF
request-tracker5 request-tracker5/dbconfig-install boolean true
request-tracker5 request-tracker5/database-type select sqlite3
request-tracker5 request-tracker5/initial-root-password password $root_pass
request-tracker5 request-tracker5/install-cronjobs boolean false
request-tracker5 request-tracker5/rtname string rt.test
request-tracker5 request-tracker5/correspondaddress string rt@rt.test
request-tracker5 request-tracker5/commentaddress string rt-comment@rt.test
request-tracker5 request-tracker5/webbaseurl string http://127.0.0.1:$port
request-tracker5 request-tracker5/webpath string
EOF
}

install_packages() {
  command -v apt-get >/dev/null || die "apt-get not found: RT is installed from Debian 12 packages"
  local guard=0 started=$SECONDS
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # Package scripts must not start daemons here; removed again below.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    guard=1
  fi
  preseed
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold)
  local rc=0
  {
    if [ "${RT_SKIP_APT_UPDATE:-}" != 1 ]; then "${apt[@]}" update; fi &&
      "${apt[@]}" install --no-install-recommends "${packages[@]}"
  } </dev/null >"$state/apt-install.log" 2>&1 || rc=$?
  [ "$guard" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die "apt-get failed (exit $rc); see $state/apt-install.log"
  log "packages installed in $((SECONDS - started)) s"
}

write_config() {
  cat > "$site_config" <<EOF
# Written by ticket-bot's tests/servers/rt/setup.sh: a local test instance on loopback.
Set(\$WebPath, '');
Set(\$WebDomain, '127.0.0.1');
Set(\$WebPort, $port);
Set(\$WebBaseURL, 'http://127.0.0.1:$port');
Set(\$MailCommand, 'mbox');
Set(\$LogToSyslog, '');
Set(\$LogToSTDERR, 'warning');
Set(\$BcryptCost, $bcrypt_cost);
1;
EOF
}

init_database() {
  if [ "${RT_RESET_DB:-}" = 1 ] || [ ! -s "$db" ]; then
    log "initialising the database"
    mkdir -p "$(dirname "$db")"
    rm -f "$db" "$state/token"
    rt-setup-database-5 --action init --skip-create </dev/null >"$state/setup-database.log" 2>&1 ||
      rt-setup-database-5 --action init </dev/null >>"$state/setup-database.log" 2>&1 ||
      die "rt-setup-database-5 failed; see $state/setup-database.log"
  fi
  chown root:www-data "$db"
  chmod 0660 "$db"
}

# Root's password, the queue and a token, through RT's own Perl API. Prints the token.
prepare_rt() {
  local old_token=""
  [ -s "$state/token" ] && old_token=$(cat "$state/token")
  RT_ROOT_PASS=$root_pass RT_QUEUE=$queue RT_OLD_TOKEN=$old_token \
    perl -I"$rt_lib" "$here/prepare.pl" </dev/null
}

pid_alive() {
  local pid
  [ -s "$state/rt-server.pid" ] || return 1
  pid=$(cat "$state/rt-server.pid")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'rt-server'
}

wait_for_rest2() {
  local token=$1 deadline=$((SECONDS + 60)) code
  while [ $SECONDS -lt $deadline ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H "Authorization: token $token" \
      "http://127.0.0.1:$port/REST/2.0/rt" || true)
    [ "$code" = 200 ] && return 0
    if [ -n "${server_pid:-}" ] && ! kill -0 "$server_pid" 2>/dev/null; then
      die "rt-server exited; see $state/rt-server.log"
    fi
    sleep 0.2
  done
  die "REST2 did not answer 200 on port $port within 60 s; see $state/rt-server.log"
}

started=$SECONDS
if installed; then log "packages already installed"; else install_packages; fi
write_config
init_database
token=$(prepare_rt) || die "preparing RT (root password, queue, token) failed"
printf '%s\n' "$token" > "$state/token"
chmod 600 "$state/token"
echo "$port" > "$state/port"

if pid_alive; then
  log "an rt-server is already running (pid $(cat "$state/rt-server.pid")); stopping it first"
  "$here/stop.sh"
fi
rm -f "$state/rt-server.pid"

server=("$rt_server" --port "$port" --server Starlet --host 127.0.0.1 --max-workers "$workers")
print_env() {
  echo "RT_URL=http://127.0.0.1:$port/"
  echo "RT_REST2=http://127.0.0.1:$port/REST/2.0/"
  echo "RT_TOKEN=$token"
  echo "RT_QUEUE=$queue"
  echo "RT_USER=root"
  echo "RT_PASS=$root_pass"
}

if [ "$background" = 1 ]; then
  setsid "${server[@]}" </dev/null >"$state/rt-server.log" 2>&1 &
  server_pid=$!
  echo "$server_pid" > "$state/rt-server.pid"
  wait_for_rest2 "$token"
  log "RT answers on http://127.0.0.1:$port/ (pid $server_pid), ready in $((SECONDS - started)) s"
  print_env
else
  print_env
  echo $$ > "$state/rt-server.pid"
  exec "${server[@]}"
fi
