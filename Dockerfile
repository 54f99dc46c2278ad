# One image for the simulator (`factory-sim serve`) and the bridge (`factory-sim bridge`).
#   docker build -t factory-sim .      (docker compose up builds it)
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/factory-sim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY factory_sim factory_sim
COPY opcua_server opcua_server
COPY mqtt_bridge mqtt_bridge
COPY factory_cli factory_cli
RUN /opt/factory-sim/bin/pip install --no-cache-dir .

FROM python:3.11.11-slim-bookworm
RUN groupadd --system --gid 10001 factory \
    && useradd --system --no-log-init --uid 10001 --gid factory --home-dir /var/lib/factory-sim factory \
    && mkdir -p /var/lib/factory-sim /etc/factory-sim \
    && chown factory:factory /var/lib/factory-sim /etc/factory-sim
COPY --from=build /opt/factory-sim /opt/factory-sim
COPY deploy/healthcheck.py /opt/factory-sim/healthcheck.py
ENV PATH=/opt/factory-sim/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /opt/factory-sim
USER 10001:10001
# Server certificates, history database, the bridge's journal (the users file lives in
# /etc/factory-sim, a volume of its own in docker-compose.yml, shared by the sites).
VOLUME ["/var/lib/factory-sim"]
EXPOSE 4840
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/factory-sim/healthcheck.py"]
ENTRYPOINT ["factory-sim"]
CMD ["--help"]
