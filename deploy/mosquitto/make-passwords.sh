#!/bin/sh
# Writes Mosquitto's password file from the stack's environment (.env), hashed, before the
# broker starts (the mosquitto-passwords service of docker-compose.yml). A missing or empty
# password stops here: the broker is never open by accident.
#   MQTT_BRIDGE_PASSWORD, MQTT_DASHBOARD_PASSWORD   required
#   PASSWORD_FILE                                   default /mosquitto/data/passwd
set -eu
file="${PASSWORD_FILE:-/mosquitto/data/passwd}"
for name in MQTT_BRIDGE_PASSWORD MQTT_DASHBOARD_PASSWORD; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then
        echo "make-passwords: $name is not set (copy .env.example to .env and set it)" >&2
        exit 1
    fi
done
umask 077
tmp="$file.new"
printf 'bridge:%s\ndashboard:%s\n' "$MQTT_BRIDGE_PASSWORD" "$MQTT_DASHBOARD_PASSWORD" > "$tmp"
mosquitto_passwd -U "$tmp"
# The broker reads the file after dropping root for its own user (eclipse-mosquitto image).
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto:mosquitto "$tmp"
fi
mv "$tmp" "$file"
echo "make-passwords: wrote $file (users: bridge, dashboard)"
