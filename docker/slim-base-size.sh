#!/usr/bin/env bash
# slim-base-size.sh: the CPU image's size on a python:3.11-slim as Debian's slim images are, where no
# registry can be reached and only the local stand-in of ../shared/tools/docker exists.
#
#   bash docker/slim-base-size.sh        (as root)
#
# The stand-in keeps /usr/share/{doc,man,locale,info} (51 MB), which the official slim images leave out.
# This builds a flattened copy of it without them, tags that copy as python:3.11-slim for the length of the
# run, runs docker/ci-smoke.sh on it (build, size, docker run, compose) and puts the stand-in's tag back.
# The Dockerfile is built unchanged. Uses the engine that answers, else starts and stops a private one.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
TOOLS=${CXR_DOCKER_TOOLS:-$ROOT/../shared/tools/docker}
WORKDIR=${CXR_DOCKER_WORKDIR:-/tmp/cxr-ci-docker}
IMAGE=${CXR_SMOKE_IMAGE:-cxr-service:slim-base}
log() { echo "slim-base-size: $*" >&2; }

started_engine=0
original=""
cleanup() {
  if [ -n "$original" ]; then docker tag "$original" python:3.11-slim; fi
  if [ "$started_engine" = 1 ]; then bash "$TOOLS/stop-engine.sh" "$WORKDIR" >&2 || true; fi
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
  bash "$TOOLS/start-engine.sh" "$WORKDIR" >&2
  started_engine=1
fi
docker image inspect python:3.11-slim >/dev/null 2>&1 || bash "$TOOLS/make-python-base.sh" "$WORKDIR" >&2
original=$(docker image inspect --format '{{.Id}}' python:3.11-slim)

dockerfile=$(mktemp)
{
  echo "FROM python:3.11-slim AS pruned"
  echo "RUN rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/locale/* /usr/share/info/*"
  echo "FROM scratch"
  echo "COPY --from=pruned / /"
  docker image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' python:3.11-slim | sed '/^$/d' |
    while IFS= read -r pair; do printf 'ENV %s="%s"\n' "${pair%%=*}" "${pair#*=}"; done
  echo 'CMD ["python3"]'
} > "$dockerfile"
BUILD=(docker build)
docker buildx version >/dev/null 2>&1 || BUILD=(env DOCKER_BUILDKIT=1 /usr/bin/docker build)
"${BUILD[@]}" --network host -t cxr-slim-base:pruned - < "$dockerfile" >&2
rm -f "$dockerfile"
docker tag cxr-slim-base:pruned python:3.11-slim

CXR_SMOKE_IMAGE=$IMAGE bash docker/ci-smoke.sh --require-engine
base=$(docker image inspect --format '{{.Size}}' cxr-slim-base:pruned)
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
log "base $base bytes; $IMAGE $size bytes = $(awk "BEGIN { printf \"%.1f\", $size / 1048576 }") MiB"
