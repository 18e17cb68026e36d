# The runtime image for template-only tasks: Python 3.11, flytekit, jupyter-shimtask's runtime part
# (outputs_by_name), and pandas + pyarrow for dataframe inputs and outputs.
#
# From the package index:
#   docker build -t shimtask-runtime .
# Air-gapped, from a wheelhouse filled beforehand on a machine with the same Python (3.11):
#   pip wheel --wheel-dir wheelhouse "flytekit>=1.16,<1.17" pandas pyarrow
#   pip wheel --no-deps --wheel-dir wheelhouse .
#   docker build --build-arg WHEELHOUSE=wheelhouse -t shimtask-runtime .
# Any base with Python 3.11, or a plain Debian bookworm (whose python3 is 3.11):
#   docker build --build-arg BASE_IMAGE=debian:bookworm-slim -t shimtask-runtime .
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS python
RUN set -eu; \
    if ! command -v python3 >/dev/null; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), "needs Python 3.11, the base has " + sys.version'

FROM python AS install
ARG WHEELHOUSE=
ARG FLYTEKIT="flytekit>=1.16,<1.17"
ARG EXTRA_PACKAGES="pandas pyarrow"
COPY . /src
RUN set -eu; \
    python3 -m venv /opt/flyte; \
    if [ -n "$WHEELHOUSE" ]; then \
        install="/opt/flyte/bin/pip install --no-cache-dir --no-index --find-links /src/$WHEELHOUSE"; \
        package=jupyter-shimtask; \
    else \
        install="/opt/flyte/bin/pip install --no-cache-dir"; \
        package=/src; \
    fi; \
    $install "$FLYTEKIT" $EXTRA_PACKAGES; \
    $install --no-deps "$package"; \
    /opt/flyte/bin/pyflyte-execute --help >/dev/null; \
    /opt/flyte/bin/python -c "from jupyter_shimtask import outputs_by_name"

FROM python
COPY --from=install /opt/flyte /opt/flyte
ENV PATH=/opt/flyte/bin:$PATH
