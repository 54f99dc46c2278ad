#!/bin/sh
# Writes Mosquitto's password file from the stack's environment (.env), hashed, before the
# broker starts (the mosquitto-passwords service of docker-compose.yml). A missing or empty
# password stops here: the broker is never open by accident.
#   MQTT_<SITE>_PASSWORD      one login per site, named <site> in lower case (at least one)
#   MQTT_DASHBOARD_PASSWORD   the read-only login `dashboard`
#   PASSWORD_FILE             default /mosquitto/data/passwd
# It also makes the login `healthcheck` with a fresh random password, kept with its user name in
# HEALTHCHECK_DIR/mosquitto_sub (default /mosquitto/data/healthcheck, mode 0600): mosquitto_sub
# reads its options there (XDG_CONFIG_HOME), so no password is ever on a command line.
set -eu
file="${PASSWORD_FILE:-/mosquitto/data/passwd}"
health="${HEALTHCHECK_DIR:-/mosquitto/data/healthcheck}"
sites=$(env | sed -n 's/^MQTT_\([A-Z0-9]*\)_PASSWORD=.*/\1/p' | grep -v '^DASHBOARD$' | sort) || true
if [ -z "$sites" ]; then
    echo "make-passwords: no MQTT_<SITE>_PASSWORD is set (run scripts/make-env)" >&2
    exit 1
fi
for name in DASHBOARD $sites; do
    eval "value=\${MQTT_${name}_PASSWORD:-}"
    if [ -z "$value" ]; then
        echo "make-passwords: MQTT_${name}_PASSWORD is empty (run scripts/make-env)" >&2
        exit 1
    fi
done
umask 077
tmp="$file.new"
: > "$tmp"
users=""
for name in DASHBOARD $sites; do
    eval "value=\${MQTT_${name}_PASSWORD}"
    user=$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]')
    printf '%s:%s\n' "$user" "$value" >> "$tmp"
    users="$users $user"
done
check=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf 'healthcheck:%s\n' "$check" >> "$tmp"
mosquitto_passwd -U "$tmp"
mkdir -p "$health"
printf '%s\n' '-u healthcheck' "-P $check" > "$health/mosquitto_sub.new"
# The broker reads the file after dropping root for its own user (eclipse-mosquitto image).
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto:mosquitto "$tmp"
fi
mv "$health/mosquitto_sub.new" "$health/mosquitto_sub"
mv "$tmp" "$file"
echo "make-passwords: wrote $file (users:$users healthcheck)"
