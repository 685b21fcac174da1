#!/usr/bin/env bash
# Container test: builds the convpool image in a real Docker engine and checks it end to end.
#
#   sudo bash scripts/container-test.sh
#
# Runs as root on a machine without a running engine or a pullable base image (CI): installs
# Docker and Compose from Debian if missing, starts a private dockerd whose state lives in a temp
# directory, provides the Dockerfile's base image (pulled, or built locally from Debian packages
# and the official Node binary on the npm registry, cached in $CONVPOOL_CI_CACHE), builds the
# image, and checks it over host networking on 127.0.0.1 only. Everything it starts is removed
# on exit, pass or fail. Exit status 0 means every check passed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
helpers=$repo/scripts/container
cache_dir=${CONVPOOL_CI_CACHE:-/var/cache/convpool-ci}
image=convpool:container-test
container=convpool-container-test
volume=convpool-container-test-data
compose_project=convpoolcontainertest
# docker stop's grace period; the image's SHUTDOWN_GRACE_MS is below it.
stop_grace=10

started=$SECONDS
passed=0
log() { printf '[%4ds] %s\n' $((SECONDS - started)) "$*"; }
pass() {
  passed=$((passed + 1))
  log "PASS $*"
}
fail() {
  log "FAIL $*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || fail "must run as root (it starts its own Docker engine)"

# --- Tools --------------------------------------------------------------------------------------
# Debian's client on purpose: it matches the engine and has BuildKit built in.
docker=/usr/bin/docker
if [ ! -x /usr/sbin/dockerd ] || [ ! -x "$docker" ] || ! command -v docker-compose >/dev/null ||
  ! command -v debootstrap >/dev/null; then
  log "installing docker.io, docker-compose and debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
fi
command -v node >/dev/null || fail "node is needed on the host for the HTTP checks"

# --- Private engine, removed on exit ------------------------------------------------------------
work=$(mktemp -d /tmp/convpool-ct.XXXXXX)
export DOCKER_HOST=unix://$work/docker.sock DOCKER_BUILDKIT=1
dockerd_pid=

show_logs() {
  if [ -n "$dockerd_pid" ] && "$docker" container inspect "$1" >/dev/null 2>&1; then
    log "last log lines of $1:"
    "$docker" logs --tail 60 "$1" 2>&1 | sed 's/^/    /'
  fi
}

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  [ -n "${inflight_pid:-}" ] && kill "$inflight_pid" 2>/dev/null
  if [ "$status" != 0 ]; then
    show_logs "$container"
    show_logs "${compose_project}_convpool_1"
  fi
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    if [ -f "$work/compose.host.yml" ]; then
      docker-compose -p "$compose_project" -f "$work/compose.host.yml" down -v --timeout 5 >/dev/null 2>&1
    fi
    "$docker" ps -aq | xargs -r "$docker" rm -f -v >/dev/null 2>&1
    "$docker" volume ls -q | xargs -r "$docker" volume rm -f >/dev/null 2>&1
    kill -TERM "$dockerd_pid"
    for _ in $(seq 1 60); do
      kill -0 "$dockerd_pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$dockerd_pid" 2>/dev/null
  fi
  # Anything left that was started from this run's directory (its containerd, shims): by pid.
  for pid in $(pgrep -f -- "$work" 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null
  done
  grep -F " $work/" /proc/mounts | awk '{ print $2 }' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
  if [ "$status" = 0 ]; then
    log "container test: all $passed checks passed in $((SECONDS - started))s"
  else
    log "container test: FAILED after $passed checks passed ($((SECONDS - started))s)"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Runs a long step in the background, output to a log, and waits for it, so that INT/TERM
# clean up at once. (A redirection on the call itself would also capture the traps' output.)
interruptible() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  wait $!
}

# Free host checks first: no engine needed.
(cd "$repo" && node_modules/.bin/dockerfilelint Dockerfile >"$work/lint.log" 2>&1) ||
  { cat "$work/lint.log"; fail "dockerfilelint found problems in the Dockerfile"; }
pass "Dockerfile passes dockerfilelint"
(cd "$repo" && docker-compose -f docker-compose.yml config -q) || fail "docker-compose.yml is invalid"
pass "docker-compose.yml is valid (docker-compose config -q)"

log "starting dockerd (state under $work)"
# Engine state on tmpfs: tens of thousands of small layer files would take minutes to delete
# from disk at cleanup; unmounting a tmpfs is instant. Falls back to disk where mount is refused.
mkdir -p "$work/data"
mount -t tmpfs -o size=8g,mode=0700 convpool-container-test "$work/data" 2>/dev/null ||
  log "tmpfs not available, engine state stays on disk"
# No bridge and no iptables: containers use the host's network only.
/usr/sbin/dockerd --storage-driver overlay2 --iptables=false --ip6tables=false --bridge=none \
  --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/docker.pid" \
  -H "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 60); do
  "$docker" version >/dev/null 2>&1 && break
  kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$work/dockerd.log"; fail "dockerd exited"; }
  sleep 0.5
done
"$docker" version >/dev/null 2>&1 || { tail -20 "$work/dockerd.log"; fail "dockerd did not come up"; }
pass "Docker engine $("$docker" version --format '{{.Server.Version}}') running"

# --- Base image -----------------------------------------------------------------------------------
# Every FROM that is not a stage of this Dockerfile.
mapfile -t bases < <(awk 'toupper($1) == "FROM" { from[$2] = 1; if (toupper($3) == "AS") stage[$4] = 1 }
  END { for (f in from) if (!(f in stage)) print f }' "$repo/Dockerfile")
if ! mkdir -p "$cache_dir" 2>/dev/null || [ ! -w "$cache_dir" ]; then
  cache_dir=$work/cache
  mkdir -p "$cache_dir"
fi
for base in "${bases[@]}"; do
  if timeout 120 "$docker" pull -q "$base" >"$work/pull.log" 2>&1; then
    pass "base image $base pulled"
    continue
  fi
  tarball=$cache_dir/${base//[:\/]/_}.tar
  # Rebuilt monthly so the stand-in follows Node and Debian point releases.
  if [ ! -s "$tarball" ] || [ -n "$(find "$tarball" -mtime +30)" ]; then
    log "$base cannot be pulled; building a local stand-in"
    TMPDIR=$work interruptible "$work/base-image.log" "$helpers/build-base-image.sh" "$base" "$tarball" ||
      { tail -20 "$work/base-image.log"; fail "building the stand-in for $base failed"; }
    # Its last line is the Node version.
    tail -1 "$work/base-image.log" >"$tarball.node-version"
  fi
  node_version=$(cat "$tarball.node-version")
  "$docker" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=${node_version#v}" \
    --change 'CMD ["node"]' \
    "$tarball" "$base" >/dev/null
  pass "base image $base provided locally (Debian minbase + Node $node_version, cache $tarball)"
done

# --- Build ---------------------------------------------------------------------------------------
# npm ci inside the build reaches the registry over the host's network; when this machine trusts
# an intercepting proxy's CA, that bundle is handed over as a build secret, never a layer.
build_args=(--network host -t "$image")
ca_bundle=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$ca_bundle" ] && build_args+=(--secret "id=extra_ca_certs,src=$ca_bundle")
build_started=$SECONDS
interruptible "$work/build.log" "$docker" build "${build_args[@]}" "$repo" ||
  { tail -40 "$work/build.log"; fail "docker build failed"; }
size_mb() { echo $(($("$docker" image inspect -f '{{.Size}}' "$1") / 1000000)); }
pass "image built in $((SECONDS - build_started))s; image size $(size_mb "$image") MB (base image ${bases[*]}: $(size_mb "${bases[0]}") MB)"

# --- Run -----------------------------------------------------------------------------------------
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
base_url=http://127.0.0.1:$port
check() { node "$helpers/checks.mjs" "$1" "$base_url" "${@:2}"; }

run_container() {
  "$docker" run -d --name "$container" --network host \
    -e HOST=127.0.0.1 -e PORT="$port" -v "$volume:/data" "$image" >/dev/null
}

"$docker" volume create "$volume" >/dev/null
run_started=$SECONDS
run_container
check ready 60 || fail "the service did not become ready"
pass "GET /health/ready answers 200, $((SECONDS - run_started))s after docker run"

[ "$("$docker" exec "$container" id -u)" != 0 ] || fail "the service runs as root"
pass "runs as non-root user $("$docker" exec "$container" id -un)"

# The image asks glibc for huge pages; whether the host grants them is the host's setting. The
# logs are read whole first: grep -q stopping early would break the pipe under pipefail.
startup_log=$("$docker" logs "$container" 2>&1)
grep -q '"mallocTunable":true' <<<"$startup_log" || fail "the server did not start with GLIBC_TUNABLES=glibc.malloc.hugetlb=1"
host_setting=$(grep -o '"host":"[a-z]*"' <<<"$startup_log" | cut -d'"' -f4 | sed -n 1p)
pass "started with glibc huge pages for large tensors (host setting: $host_setting)"

check seed || fail "seed example"
pass "seed example: max_pool2d(1x2x4x4, kernel_size=2) = [[[[1,1],[3,3]],[[5,5],[7,7]]]]"

check docs || fail "Swagger UI"
pass "Swagger UI served at /docs/"

# The health check (node + fetch, no curl in the image) must turn the container healthy.
wait_healthy() {
  local health
  for _ in $(seq 1 90); do
    health=$("$docker" inspect -f '{{.State.Health.Status}}' "$1")
    [ "$health" = healthy ] && return 0
    [ "$health" = unhealthy ] && fail "$1: health check reports unhealthy"
    sleep 0.5
  done
  fail "$1: health check still '$health' after 45s"
}
wait_healthy "$container"
pass "image HEALTHCHECK reports healthy"

# A short real training job; its model must outlive the container (checked after the restart).
model="container-test-model"
train_started=$SECONDS
check train "$model" || fail "training job"
pass "training job (small CNN, 256 MNIST digits, 1 epoch) succeeded in $((SECONDS - train_started))s, registered as $model"

# docker stop sends SIGTERM; a clean drain exits 0 well before the SIGKILL at $stop_grace s.
stop_container() {
  local t0=$SECONDS code
  "$docker" stop -t "$stop_grace" "$container" >/dev/null
  code=$("$docker" inspect -f '{{.State.ExitCode}}' "$container")
  [ "$code" = 0 ] || fail "docker stop: exit code $code (137 means it was killed after the grace period)"
  [ $((SECONDS - t0)) -lt "$stop_grace" ] || fail "docker stop took $((SECONDS - t0))s, the whole grace period"
  pass "docker stop: exit code 0 in $((SECONDS - t0))s (grace period ${stop_grace}s)"
}

# Stop while a large request is in flight: it must still be answered in full.
check inflight "$work/inflight.sent" >"$work/inflight.log" 2>&1 &
inflight_pid=$!
until [ -s "$work/inflight.sent" ] || ! kill -0 "$inflight_pid" 2>/dev/null; do sleep 0.05; done
stop_container
wait "$inflight_pid" || { cat "$work/inflight.log"; fail "a request in flight at docker stop was not answered"; }
inflight_pid=
pass "request in flight at docker stop answered in full (graceful drain)"

# A new container on the same volume: what lives in /data must survive.
"$docker" rm "$container" >/dev/null
run_container
check ready 60 || fail "the new container did not become ready"
pass "new container on the same data volume is ready"
check model-listed "$model" || fail "trained model lost with the container"
pass "trained model $model still listed after the restart (data volume)"
stop_container

# --- Compose -------------------------------------------------------------------------------------
# The project's compose file as users run it, except that it shares the host's network: this
# machine cannot publish ports.
"$docker" tag "$image" convpool:latest
(cd "$repo" && docker-compose -f docker-compose.yml config) |
  python3 "$helpers/compose-host-network.py" "$port" >"$work/compose.host.yml"
docker-compose -p "$compose_project" -f "$work/compose.host.yml" up -d --no-build >"$work/compose.log" 2>&1 ||
  { cat "$work/compose.log"; fail "docker-compose up failed"; }
compose_container=${compose_project}_convpool_1
check ready 60 || fail "the compose service did not become ready"
check seed || fail "seed example through compose"
pass "docker-compose up: service ready and answering the seed example"
wait_healthy "$compose_container"
pass "compose health check reports healthy"
read -r memory nano_cpus restart < <("$docker" inspect \
  -f '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}' "$compose_container")
if [ "$memory" = 0 ] || [ "$nano_cpus" = 0 ] || [ "$restart" = no ]; then
  fail "compose limits or restart policy not applied (memory $memory, nano-CPUs $nano_cpus, restart $restart)"
fi
pass "compose limits and restart policy applied: $((memory / 1048576)) MiB, $((nano_cpus / 1000000000)) CPUs, restart $restart"
docker-compose -p "$compose_project" -f "$work/compose.host.yml" down -v >>"$work/compose.log" 2>&1 ||
  { cat "$work/compose.log"; fail "docker-compose down failed"; }
pass "docker-compose down removed the service and its volume"
