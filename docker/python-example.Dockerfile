# The Python example (examples/python) as a one-shot container that runs example.py against
# the sqlited service of docker-compose.yml. The sqlited package (./python) and its
# dependencies are installed by pip in a first stage, from the repository and PyPI, so
# `docker-compose up --build` needs nothing made beforehand; the image keeps only them and
# Debian's python3.
#
# EXTRA_CA_CERTS (PEM, optional): CA certificates pip must trust besides Debian's, for a
# network whose proxy re-signs TLS (a company's); docker/test.sh passes the host's local
# ones (/usr/local/share/ca-certificates). Only the first stage sees them.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS packages
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends python3 python3-pip ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/*
ARG EXTRA_CA_CERTS=""
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
        printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/extra.crt \
        && update-ca-certificates >/dev/null; \
    fi
COPY python /src/python
# --target: into a folder of its own (Debian's Python is externally managed, PEP 668).
RUN PIP_CERT=/etc/ssl/certs/ca-certificates.crt python3 -m pip install -q --no-cache-dir \
        --disable-pip-version-check --target /app/site /src/python

FROM ${BASE}
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends python3 >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY --from=packages /app/site /app/site
COPY examples/python /app/examples/python
ENV PYTHONPATH=/app/site
WORKDIR /app/examples/python
ENTRYPOINT ["python3", "example.py"]
