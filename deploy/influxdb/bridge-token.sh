#!/bin/bash
# Runs once, after the first-start setup of the influxdb image (/docker-entrypoint-initdb.d): makes
# the API token of the bridges, which may write the bucket of the stack and do nothing else (no read, no
# other bucket, no administration), and leaves it in TOKEN_FILE (default
# /run/factory-sim/influxdb/bridge.token, a volume the bridges mount read-only and read through
# FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE). The all-access admin token stays in this service.
set -euo pipefail
file="${TOKEN_FILE:-/run/factory-sim/influxdb/bridge.token}"
token=$(influx auth create \
    --org "${DOCKER_INFLUXDB_INIT_ORG}" \
    --write-bucket "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
    --description "factory-sim bridges: write ${DOCKER_INFLUXDB_INIT_BUCKET}" \
    --json | sed -n 's/.*"token":[[:space:]]*"\([^"]*\)".*/\1/p')
if [ -z "$token" ]; then
    echo "bridge-token: influx auth create gave no token" >&2
    exit 1
fi
mkdir -p "$(dirname "$file")"
# Readable by the user of the bridges (another uid in another container); the volume is mounted
# only by influxdb and the bridges.
umask 022
printf '%s\n' "$token" > "$file.new"
mv "$file.new" "$file"
echo "bridge-token: wrote $file"
