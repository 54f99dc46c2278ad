#!/bin/bash
# Runs once, after the influxdb image's first-start setup (/docker-entrypoint-initdb.d):
# maps the bucket to an InfluxDB 1.x database/retention policy so that InfluxQL works
# (Grafana's InfluxQL datasource, `/query?db=BUCKET`), and creates the read-only v1 login
# that Grafana uses. The image sets DOCKER_INFLUXDB_INIT_* and INFLUX_* for this script.
set -euo pipefail
influx v1 dbrp create \
    --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
    --db "${DOCKER_INFLUXDB_INIT_BUCKET}" --rp autogen --default \
    --org "${DOCKER_INFLUXDB_INIT_ORG}"
influx v1 auth create \
    --username "${GRAFANA_INFLUX_USER}" --password "${GRAFANA_INFLUX_PASSWORD}" \
    --read-bucket "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
    --org "${DOCKER_INFLUXDB_INIT_ORG}"
