# One image for every service; the command picks the service (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
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
