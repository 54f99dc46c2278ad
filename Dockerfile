# One image for the simulator (`factory-sim serve`), the bridge (`factory-sim bridge`) and the
# demo (`factory-sim demo`).
#   docker build -t factory-sim .      (docker compose up builds it)
# BASE: where registry images cannot be pulled, a stand-in with Python 3.11 on Debian bookworm
# (tests/container builds one from Debian packages).
ARG BASE=python:3.11.11-slim-bookworm
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/factory-sim
WORKDIR /src
# The Python dependencies pinned (scripts/lock-image): every build installs the same versions.
# They go first, in a layer of their own, rebuilt only when the pins change.
COPY deploy/image/constraints.txt ./
RUN /opt/factory-sim/bin/pip install --no-cache-dir --requirement constraints.txt
COPY pyproject.toml README.md ./
COPY factory_sim factory_sim
COPY opcua_server opcua_server
COPY mqtt_bridge mqtt_bridge
COPY factory_cli factory_cli
COPY dashboard dashboard
COPY bounded_yaml bounded_yaml
# The project as a wheel, installed in the final stage: a code change rebuilds only that layer.
RUN /opt/factory-sim/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${BASE}
RUN groupadd --system --gid 10001 factory \
    && useradd --system --no-log-init --uid 10001 --gid factory --home-dir /var/lib/factory-sim factory \
    && mkdir -p /var/lib/factory-sim /etc/factory-sim \
    && chown factory:factory /var/lib/factory-sim /etc/factory-sim
COPY --from=build /opt/factory-sim /opt/factory-sim
COPY --from=build /wheels /wheels
# `pip check`: the pinned dependencies satisfy the project's requirements, or the build fails.
RUN /opt/factory-sim/bin/pip install --no-cache-dir --no-deps /wheels/*.whl \
    && /opt/factory-sim/bin/pip check \
    && rm -rf /wheels
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
