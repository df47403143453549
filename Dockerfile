# One image for every service; the command picks the service (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# git: the supervisor reads revisions; openssh-client: actions on remote nodes; docker.io:
# the docker CLI the agent and executor call (the host's daemon, through its socket).
# Compose v2 (`docker compose`) is not in Debian 12: mount the host's plugin if you use it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client docker.io \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 1000 homelab \
 && useradd --uid 1000 --gid 1000 --home-dir /home/homelab --create-home homelab

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bus ./bus
COPY actors ./actors
COPY gui ./gui
COPY homelab ./homelab
RUN pip install . && python -c "import homelab.cli"

USER 1000:1000
ENTRYPOINT ["homelab"]
CMD ["--help"]
