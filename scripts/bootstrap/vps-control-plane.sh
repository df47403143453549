#!/usr/bin/env bash
# Prepare this host for the control plane, build the images and start the stack, then wait
# until the UI answers. Running it again is the upgrade: it rebuilds, recreates the
# containers whose image or settings changed and waits again; the data root is kept as it is.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: ./scripts/bootstrap/vps-control-plane.sh [--dry-run] [--help]

Checks Docker, the Compose plugin, .env (HOMELAB_REPO_DIR) and the network of Nginx Proxy
Manager, warns when Tailscale is not up, creates the data root with its folders (owned by
UID 1000), runs `docker compose up -d --build` and waits for
http://localhost:8080/summary. Run it again to upgrade: the data root is kept.

  --dry-run   say what would be done, change nothing
  --help      this text

Settings (the environment wins over .env, then the default):
  HOMELAB_REPO_DIR   your homelab repository, a git checkout (required, in .env)
  HOMELAB_ROOT       the data root [/opt/homelab]
  HOMELAB_SSH_DIR    the executor's ssh key and known_hosts [/opt/homelab-ssh]
  NPM_NETWORK        the Docker network Nginx Proxy Manager is on [npm_default]
  HOMELAB_UI_TRUSTED_PROXIES  whose X-Forwarded-For the UI believes [that network's subnets]
  HOMELAB_UID, HOMELAB_GID   who owns the data root [1000, the UID]
  HOMELAB_ENV_FILE   the settings file [.env beside docker-compose.yml]
  BOOTSTRAP_TIMEOUT  seconds to wait for the UI after the start [120]
EOF
}

dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'bootstrap: error: unknown option %s (see --help)\n' "$arg" >&2; exit 2 ;;
  esac
done

say() { printf 'bootstrap: %s\n' "$*"; }
warn() { printf 'bootstrap: warning: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
env_file="${HOMELAB_ENV_FILE:-$repo/.env}"
url="http://localhost:8080"

# The value of KEY in the settings file: its last KEY=value line, without surrounding quotes.
env_value() {
  local key="$1" line value=""
  [ -f "$env_file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    case "$line" in "$key="*) value="${line#"$key="}" ;; esac
  done <"$env_file"
  case "$value" in
    \"*\" | \'*\') value="${value:1:${#value}-2}" ;;
  esac
  printf '%s' "$value"
}

# A setting as Compose sees it: the environment wins, then the settings file, then the default.
setting() {
  local key="$1" default="$2" value="${!1:-}"
  [ -n "$value" ] || value="$(env_value "$key")"
  printf '%s' "${value:-$default}"
}

# Run a command that changes the host (as root when it must), or only say it under --dry-run.
change() {
  if [ "$dry_run" -eq 1 ]; then
    printf 'bootstrap: would run:'
    printf ' %q' "$@"
    printf '\n'
  elif [ "$(id -u)" -eq 0 ] || [ "$1" = docker ]; then
    "$@"
  else
    sudo "$@"
  fi
}

# -- prerequisites: one line each ------------------------------------------------------------

command -v docker >/dev/null 2>&1 ||
  die "docker is not installed: install Docker Engine with its Compose plugin first"
docker compose version >/dev/null 2>&1 ||
  die "the Docker Compose plugin is missing (\`docker compose version\` failed): install docker-compose-plugin"
docker info >/dev/null 2>&1 ||
  die "cannot reach the Docker daemon (\`docker info\` failed): is it running, and may $(id -un) use it?"
[ -f "$env_file" ] ||
  die "no settings file $env_file: copy .env.example to .env and set HOMELAB_REPO_DIR"

inventory="$(setting HOMELAB_REPO_DIR "")"
[ -n "$inventory" ] ||
  die "HOMELAB_REPO_DIR is not set in $env_file: set it to your homelab repository"
case "$inventory" in /*) ;; *) inventory="$repo/$inventory" ;; esac # as Compose reads it
[ -d "$inventory" ] || die "HOMELAB_REPO_DIR=$inventory is not a directory"
[ -e "$inventory/.git" ] ||
  die "HOMELAB_REPO_DIR=$inventory is not a git repository (the supervisor reads its revisions)"

root="$(setting HOMELAB_ROOT /opt/homelab)"
ssh_dir="$(setting HOMELAB_SSH_DIR /opt/homelab-ssh)"
network="$(setting NPM_NETWORK npm_default)"
uid="${HOMELAB_UID:-1000}"
gid="${HOMELAB_GID:-$uid}"
timeout="${BOOTSTRAP_TIMEOUT:-120}"

subnets="$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}},{{end}}' "$network" 2>/dev/null)" ||
  die "the Docker network $network (NPM_NETWORK) does not exist: start Nginx Proxy Manager first, or create it: docker network create $network"
# The UI believes X-Forwarded-For only from NPM's network: the login limit then sees each
# browser's own address, and one attacker cannot lock everyone out.
proxies="$(setting HOMELAB_UI_TRUSTED_PROXIES "${subnets%,}")"
if [ -n "$proxies" ]; then
  say "the UI believes forwarded addresses from $proxies (NPM's network $network)"
else
  warn "the network $network has no subnet: set HOMELAB_UI_TRUSTED_PROXIES in $env_file to NPM's address"
fi

if ! command -v tailscale >/dev/null 2>&1; then
  warn "tailscale is not installed: remote agents and the tailnet cannot reach this host"
elif ! tailscale status >/dev/null 2>&1; then
  warn "Tailscale is not up (\`tailscale status\` failed): remote agents and the tailnet cannot reach this host"
fi

# -- the data root ---------------------------------------------------------------------------

upgrade=0
[ -d "$root/events" ] && upgrade=1
if [ -d "$root" ] && [ "$(stat -c %u "$root")" != "$uid" ]; then
  warn "$root is owned by uid $(stat -c %u "$root"), not $uid: the services may not write there"
fi
say "data root $root (folders owned by uid $uid)"
for folder in "" events world state logs logs/actions actions inbox inbox/done inbox/rejected; do
  path="$root${folder:+/$folder}"
  [ -d "$path" ] || change install -d -m 0755 -o "$uid" -g "$gid" "$path"
done
[ -d "$ssh_dir" ] || change install -d -m 0700 -o "$uid" -g "$gid" "$ssh_dir"

# -- build, start, wait ----------------------------------------------------------------------

export HOMELAB_REPO_DIR="$inventory" HOMELAB_ROOT="$root" HOMELAB_SSH_DIR="$ssh_dir"
export NPM_NETWORK="$network" HOMELAB_UI_TRUSTED_PROXIES="$proxies"
compose=(docker compose --project-directory "$repo" --env-file "$env_file" -f "$repo/docker-compose.yml")

if [ "$upgrade" -eq 1 ]; then
  say "upgrading: rebuilding the images and recreating what changed (the data in $root is kept)"
else
  say "building and starting the stack"
fi
change "${compose[@]}" up -d --build --remove-orphans

# The services that are not running and healthy, one name a line.
failing() {
  local service state health
  "${compose[@]}" ps --all --format '{{.Service}} {{.State}} {{.Health}}' 2>/dev/null |
    while read -r service state health; do
      if [ "$state" != running ] || { [ -n "$health" ] && [ "$health" != healthy ]; }; then
        printf '%s\n' "$service"
      fi
    done
}

if [ "$dry_run" -eq 1 ]; then
  say "would wait up to ${timeout}s for $url/summary"
else
  say "waiting up to ${timeout}s for $url/summary"
  deadline=$(($(date +%s) + timeout))
  until curl -fsS --max-time 5 -o /dev/null "$url/summary" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      "${compose[@]}" ps --all >&2 || true
      mapfile -t services < <(failing)
      [ "${#services[@]}" -gt 0 ] || services=(ui)
      for service in "${services[@]}"; do
        printf -- '--- the last lines of %s:\n' "$service" >&2
        "${compose[@]}" logs --no-color --tail 40 "$service" >&2 || true
      done
      die "the UI did not answer $url/summary within ${timeout}s; not healthy: ${services[*]} (docker compose logs ${services[0]})"
    fi
    sleep 2
  done
fi

# -- what next -------------------------------------------------------------------------------

public="$(setting HOMELAB_PUBLIC_URL "")"
cat <<EOF

The control plane $([ "$dry_run" -eq 1 ] && echo "would run" || echo "runs").
  UI on this host:  $url  (status: curl $url/summary; containers: docker compose ps)
  UI elsewhere:     ${public:-through Nginx Proxy Manager, once its proxy host exists (below)}
  First operator:   cd $repo && docker compose exec ui homelab ui add-user NAME
  Data root:        $root (back it up: docs/operations.md)

Nginx Proxy Manager, Proxy Hosts, Add Proxy Host:
  Domain Names:           the name you serve the UI at
  Scheme:                 http
  Forward Hostname / IP:  control-plane-ui
  Forward Port:           8080
  Block Common Exploits:  on
  Websockets Support:     on
  SSL:                    request or pick a certificate, Force SSL on
Then set HOMELAB_PUBLIC_URL in $env_file to that https:// URL and run this script again.
EOF
[ "$dry_run" -eq 0 ] || say "dry run: nothing was changed"
