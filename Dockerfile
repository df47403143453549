# One Dockerfile, two targets (docker-compose.yml picks them with `build.target`):
#   base      the broker, agent, observer, supervisor and UI: Python, git, the project
#   executor  base plus what acting needs: the docker CLI with its Compose plugin, and ssh
# Python dependencies are installed at the versions the tests ran with (constraints.txt,
# written by scripts/constraints.py). Every image runs as UID 1000 unless Compose says
# otherwise (only the executor does; see docker-compose.yml).

# The docker CLI and the Compose v2 plugin: static binaries from Docker's official CLI image
# (Debian 12's docker.io has no Compose v2 plugin, and its docker-compose is v1).
FROM docker:27.5.1-cli AS docker-cli

FROM python:3.11.12-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# git: the supervisor reads the inventory repository's revisions. Debian packages are not
# pinned: the archive keeps only a release's current version (security fixes replace it),
# and the base image's tag pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 1000 homelab \
 && useradd --uid 1000 --gid 1000 --home-dir /home/homelab --create-home homelab

WORKDIR /app
# The pinned dependencies first: a code change rebuilds only the layers below.
COPY constraints.txt ./
RUN pip install -r constraints.txt
COPY pyproject.toml README.md ./
COPY bus ./bus
COPY actors ./actors
COPY gui ./gui
COPY homelab ./homelab
RUN pip install --no-deps -c constraints.txt . \
 && pip check \
 && python -c "import homelab.cli, gui.app"

USER 1000:1000
ENTRYPOINT ["homelab"]
CMD ["--help"]

FROM base AS executor
USER 0:0
# openssh-client: actions on remote nodes run over ssh (the key is mounted read-only).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client \
 && rm -rf /var/lib/apt/lists/*
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=docker-cli /usr/local/libexec/docker/cli-plugins/docker-compose \
     /usr/local/libexec/docker/cli-plugins/docker-compose
RUN docker --version && docker compose version
USER 1000:1000
