#!/usr/bin/env bash
# Install the servers and tools the integration tests start themselves (test/harness): Redis, OpenSSH,
# nginx, PostgreSQL, Chromium. Debian/Ubuntu only.
#
# Idempotent and quick when everything is there: it only looks for files and commands, then exits 0.
# Installing never leaves system services running or enabled: the tests start their own instances on
# free ports, and a system nginx/postgres/redis/sshd would only compete for ports, CPU and memory.
#
# usage: scripts/install-test-deps.sh [--check]
#   --check   report what is missing and exit 1 if anything is; install nothing
set -euo pipefail

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

have() { command -v "$1" >/dev/null 2>&1; }
# True when the glob matches at least one existing path.
exists() { compgen -G "$1" >/dev/null; }

# One check per package, by what the harness actually runs. sbin paths are tested as files because
# PATH lacks /usr/sbin for non-root users on Debian.
missing=()
{ have redis-server || [ -x /usr/bin/redis-server ]; } || missing+=(redis-server)
have redis-cli || missing+=(redis-tools)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
{ have ssh && have ssh-keygen; } || missing+=(openssh-client)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
exists '/usr/lib/postgresql/*/bin/initdb' || missing+=(postgresql)
exists '/usr/lib/postgresql/*/lib/pg_stat_statements.so' || missing+=(postgresql-contrib)
{ have chromium || have chromium-browser; } || missing+=(chromium)
{ have ps && have pgrep; } || missing+=(procps)
have grep || missing+=(grep)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: everything is present, nothing to do"
  exit 0
fi

apt_opts=(-o DPkg::Lock::Timeout=600)
if [ "$check_only" = 1 ]; then
  echo "install-test-deps: missing: ${missing[*]}"
  exit 1
fi
if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
  echo "install-test-deps: missing: ${missing[*]}" >&2
  if have apt-get; then
    echo "install them as root with:" >&2
    echo "  sudo apt-get ${apt_opts[*]} update" >&2
    echo "  sudo DEBIAN_FRONTEND=noninteractive apt-get ${apt_opts[*]} install -y --no-install-recommends ${missing[*]}" >&2
  else
    echo "this script knows only apt-get (Debian/Ubuntu); install the equivalent packages by hand" >&2
  fi
  exit 1
fi

# Debian starts a daemon as soon as its package is configured unless /usr/sbin/policy-rc.d exits 101.
# An existing one (Docker images ship one) is put back afterwards, whatever happens in between.
policy=/usr/sbin/policy-rc.d
backup=""
if [ -e "$policy" ]; then
  backup=$(mktemp /usr/sbin/policy-rc.d.mcpmon-XXXXXX)
  cp -p "$policy" "$backup"
fi
restore_policy() {
  if [ -n "$backup" ]; then mv -f "$backup" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# written by mcpmon scripts/install-test-deps.sh for the duration of an install\nexit 101\n' >"$policy"
chmod 755 "$policy"

echo "install-test-deps: installing ${missing[*]}"
apt-get "${apt_opts[@]}" update
DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"

# policy-rc.d stops the start, not the enable: postinst still links the units into multi-user.target,
# so the daemons would come up at the next boot. Disable the services of packages installed just now;
# an sshd that was already there may be how someone reaches this machine, so it is left alone.
declare -A service_of=([redis-server]=redis-server [openssh-server]=ssh [nginx]=nginx [postgresql]=postgresql)
disabled=()
for pkg in "${missing[@]}"; do
  svc=${service_of[$pkg]:-}
  [ -n "$svc" ] || continue
  if have systemctl && [ -d /run/systemd/system ]; then
    # A running systemd: stop it too, in case something started it behind policy-rc.d's back.
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  elif have systemctl; then
    # No systemd running (container, chroot): systemctl only edits the links, which is what we need.
    systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
  if [ -x "/etc/init.d/$svc" ] && have update-rc.d; then update-rc.d "$svc" disable >/dev/null 2>&1 || true; fi
  disabled+=("$svc")
done

echo "install-test-deps: installed ${missing[*]}"
if [ ${#disabled[@]} -gt 0 ]; then
  echo "install-test-deps: system services not started and disabled at boot: ${disabled[*]}"
fi
