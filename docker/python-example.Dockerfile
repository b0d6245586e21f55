# The Python example (examples/python) as a one-shot container that runs example.py against
# the sqlited service of docker-compose.yml. Its Python packages (the sqlited package of
# python/ and its dependencies) are installed on the host into target/docker-python
# (docker/test.sh does it), so the image needs no pip.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends python3 >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY target/docker-python /app/site
COPY examples/python /app/examples/python
ENV PYTHONPATH=/app/site
WORKDIR /app/examples/python
ENTRYPOINT ["python3", "example.py"]
