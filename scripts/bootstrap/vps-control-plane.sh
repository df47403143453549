#!/usr/bin/env bash
# Prepare this host for the control plane, build the image and start (or upgrade) the stack,
# then wait until it answers. Safe to run again: that is the upgrade path.
#
#   ./scripts/bootstrap/vps-control-plane.sh
#
# Environment: HOMELAB_ROOT (data root, default /opt/homelab), HOMELAB_UID (1000),
# BOOTSTRAP_TIMEOUT (seconds to wait for the stack, default 120).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
root="${HOMELAB_ROOT:-/opt/homelab}"
uid="${HOMELAB_UID:-1000}"
timeout="${BOOTSTRAP_TIMEOUT:-120}"

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker is not installed (see docs/operations.md)"
docker compose version >/dev/null 2>&1 || die "the docker compose plugin is missing"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

say "data root $root (owned by uid $uid)"
for folder in events world state logs logs/actions actions inbox inbox/done inbox/rejected; do
  as_root install -d -m 0755 -o "$uid" -g "$uid" "$root/$folder"
done

export HOMELAB_ROOT="$root" HOMELAB_REPO_DIR="$repo"
say "building and starting the stack from $repo/docker-compose.yml"
docker compose --project-directory "$repo" -f "$repo/docker-compose.yml" up -d --build --remove-orphans

say "waiting up to ${timeout}s for the broker to answer"
deadline=$(( $(date +%s) + timeout ))
until docker compose --project-directory "$repo" -f "$repo/docker-compose.yml" \
    exec -T broker homelab status --bus tcp://127.0.0.1:7001 >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    die "the stack did not answer within ${timeout}s; see: docker compose logs broker"
  fi
  sleep 2
done
say "ready. Logs: docker compose logs -f; data: $root"
