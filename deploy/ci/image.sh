#!/usr/bin/env bash
# The image, built and run as CI can without a Docker engine or a registry:
#   1. a base image from Debian's packages (deploy/ci/base-image.sh; cached between runs),
#   2. the Containerfile built on it with buildah (chroot isolation, layers cached: the requirements'
#      layer is reused until requirements/base.txt changes),
#   3. its web, worker and beat commands run with `buildah run` against the CI PostgreSQL and Redis,
#      and the production stack's HTTP checks repeated (deploy/ci/stack_check.py image).
# Prints "image: ok". IMAGE names the result (default localhost/escalations:ci).
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE="${IMAGE:-localhost/escalations:ci}"
started=$SECONDS

base="$(deploy/ci/base-image.sh | tail -n 1)"
echo "base image: ${base} ($((SECONDS - started)) s)"
# Earlier bases (an older recipe or certificate set) are of no further use.
buildah images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/escalations-ci-base:' | grep -vx "$base" |
  xargs -r buildah rmi >/dev/null 2>&1 || true

buildah build --isolation chroot --layers --force-rm --format docker --quiet \
  --build-arg "BASE_IMAGE=${base}" --file Containerfile --tag "$IMAGE" . >/dev/null
echo "built ${IMAGE} ($((SECONDS - started)) s)"
# Images no tag and no newer build uses (earlier builds' code layers); the cached layers this build
# stands on (the requirements) are its parents, so they stay.
buildah rmi --prune >/dev/null 2>&1 || true

# What the image promises before it runs: a non-root user, a health check, the entrypoint.
buildah inspect --type image "$IMAGE" | .venv/bin/python -c '
import json, sys
config = json.load(sys.stdin)["Docker"]["config"]
user = config.get("User", "")
assert user and user.split(":")[0] not in ("", "0", "root"), f"runs as {user!r}"
assert config.get("Healthcheck", {}).get("Test"), "no HEALTHCHECK"
assert config.get("Entrypoint") == ["/app/deploy/container/entrypoint.sh"], config.get("Entrypoint")
check, command = " ".join(config["Healthcheck"]["Test"][1:]), config.get("Cmd")
print(f"user {user}, healthcheck: {check}, default command: {command}")
'
.venv/bin/python deploy/ci/stack_check.py image "$IMAGE"
