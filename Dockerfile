# syntax=docker/dockerfile:1.7
#
# The findata user-code image: the Dagster code location (`dagster api grpc -m
# findata_assets.definitions`, the Helm chart's user deployment), every run pod the
# K8sRunLauncher starts (it passes `dagster api execute_run ...` as the container's args, so this
# image has no ENTRYPOINT), and the chart's prepare Job.
#
#   docker build -t registry.example.com/findata/findata:0.1.0 .
#
# No secret is used at build time or stored in the image: settings come from the environment at
# run time (the findata-config ConfigMap and the findata-secrets Secret on Kubernetes).
# Needs BuildKit (the default builder of Docker 23+) for the bind mount in the runtime stage.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

############################################################################################
# build: wheels of the package and of every dependency (no compiler needed: all have wheels)
############################################################################################
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
WORKDIR /src

# 1. Dependencies only, from setup.py and a stub package: this layer stays cached while only
#    the code changes.
COPY setup.py ./
RUN mkdir findata_assets \
 && touch findata_assets/__init__.py \
 && pip wheel --wheel-dir /wheels . \
 && rm -rf /wheels/findata_assets-*.whl findata_assets build *.egg-info

# 2. The package itself.
COPY findata_assets ./findata_assets
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && ls /wheels/findata_assets-*.whl

############################################################################################
# runtime: the wheels installed into a clean slim Python, run as an unprivileged user
############################################################################################
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    FINDATA_HOME=/tmp/findata \
    MPLCONFIGDIR=/opt/findata/matplotlib \
    FINDATA_CALENDAR_CACHE_DIR=/opt/findata/calendar

# A fixed numeric uid/gid, so Kubernetes can enforce runAsNonRoot (runAsUser: 10001).
RUN groupadd --system --gid 10001 findata \
 && useradd --system --uid 10001 --gid findata --home-dir /opt/findata --create-home \
        --shell /usr/sbin/nologin findata \
 && mkdir -p "$DAGSTER_HOME" \
 && chown findata:findata "$DAGSTER_HOME"

# The wheels are bind-mounted from the build stage, never copied into a layer. Offline install
# (--no-index): exactly what the build stage resolved. The bundled test suites of pandas and
# numpy (~60 MB) are not needed at run time. The matplotlib font cache is built once here
# instead of in every run pod, and so is the XSHG session cache (findata_assets/trading_calendar.py).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels findata_assets \
 && site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && rm -rf "$site/pandas/tests" "$site"/numpy/*/tests \
 && mkdir -p "$MPLCONFIGDIR" \
 && python -c "import matplotlib.font_manager" \
 && chown -R findata:findata "$MPLCONFIGDIR" \
 && python -c "import dagster, dagster_k8s, dagster_postgres, psycopg2, findata_assets.deploy.k8s" \
 && python -c "import findata_assets.trading_calendar" \
 && chown -R findata:findata "$FINDATA_CALENDAR_CACHE_DIR" \
 && dagster --version

WORKDIR /opt/findata
USER 10001:10001

# The code location's gRPC port (dagster-user-deployments.deployments[0].port).
EXPOSE 3030
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "findata_assets.definitions"]
