#!/usr/bin/env bash
# Idempotent developer/CI setup for Flotilla.
#
#   scripts/setup.sh [--with etcd] [--with docker] [debian-package ...]
#
# - installs missing Debian packages (the arguments, plus the default list,
#   plus etcd-server/etcd-client with `--with etcd`, docker.io and busybox-static
#   with `--with docker`, which also starts dockerd when it is not running),
# - puts Node 24 (from the npm registry) in .tools/node24,
# - runs `npm ci` when node_modules is missing or older than package-lock.json.
#
# Silent when everything is present; prints one short line per thing it installs.
# Works on a fresh clone with only system Node 20 + npm. Safe to run without stdin.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# openssl issues the cluster CA and the nodes' serving certificates for the Kubernetes API.
DEFAULT_DEB_PACKAGES=(openssl)

# Serialise concurrent runs (two `./run` at once on a fresh clone would race in npm).
if [[ -z ${FLOTILLA_SETUP_LOCKED:-} ]] && command -v flock >/dev/null 2>&1; then
  mkdir -p "$ROOT/.tools"
  export FLOTILLA_SETUP_LOCKED=1
  exec flock "$ROOT/.tools/setup.lock" bash "${BASH_SOURCE[0]}" "$@"
fi

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Run a command with its output captured; show the output (minus npm's
# nodedir noise) only if it fails.
quietly() {
  local out rc=0
  out="$(mktemp)"
  "$@" >"$out" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    grep -v 'npm warn Unknown user config "nodedir"' "$out" >&2 || true
    rm -f "$out"
    return "$rc"
  fi
  rm -f "$out"
}

node_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "unsupported architecture $(uname -m)" ;;
  esac
}

# ---------------------------------------------------------------- arguments
deb_packages=("${DEFAULT_DEB_PACKAGES[@]}")
want_docker=0
with_component() {
  case "$1" in
    etcd) deb_packages+=(etcd-server etcd-client) ;;
    # The Docker engine for the node agent (and Swarm as the workload benchmarks' peer);
    # busybox-static is the only thing test images contain (no registry is reachable).
    docker) deb_packages+=(docker.io busybox-static); want_docker=1 ;;
    *) die "unknown --with component: $1 (etcd or docker)" ;;
  esac
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --with)
      [[ $# -ge 2 ]] || die "--with needs an argument (etcd or docker)"
      with_component "$2"
      shift 2
      ;;
    --with=*)
      with_component "${1#--with=}"
      shift
      ;;
    -h | --help)
      sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*) die "unknown option: $1" ;;
    *) deb_packages+=("$1"); shift ;;
  esac
done

# ---------------------------------------------------------- Debian packages
deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing_debs=()
for pkg in ${deb_packages[@]+"${deb_packages[@]}"}; do
  deb_installed "$pkg" || missing_debs+=("$pkg")
done

if [[ ${#missing_debs[@]} -gt 0 ]]; then
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing_debs[*]}"
    SUDO=(sudo -n)
  fi
  # Keep services (etcd-server) from being started by the package install.
  POLICY=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    created_policy=1
  fi
  remove_policy() {
    if [[ $created_policy -eq 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; fi
  }
  trap remove_policy EXIT

  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-y -q -o Dpkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  quietly "${SUDO[@]}" apt-get -q -o Dpkg::Lock::Timeout=300 update || die "apt-get update failed"
  for pkg in "${missing_debs[@]}"; do
    log "installing Debian package $pkg"
    quietly "${SUDO[@]}" apt-get install "${apt_opts[@]}" --no-install-recommends "$pkg" \
      </dev/null || die "apt-get install $pkg failed"
  done
  remove_policy
  trap - EXIT
fi

# ------------------------------------------------------------------ dockerd
# Machines without an init system (containers, CI runners) do not start the engine the package
# installed: start it in the background and wait until it answers.
if [[ $want_docker -eq 1 ]] && ! docker info >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || die "dockerd is not running and starting it needs root"
  # An engine may still be starting or shutting down: wait for it, and start one whenever none
  # runs (a pid file then is a dead engine's leftover, which dockerd refuses to start over).
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    if ! pgrep -x dockerd >/dev/null; then
      rm -f /var/run/docker.pid
      log "starting dockerd (log: /var/log/flotilla-dockerd.log)"
      # Detached, with every descriptor above 2 closed: the engine must not hold this script's
      # lock (.tools/setup.lock) or its caller's pipes open for as long as it runs.
      (
        for descriptor in /proc/self/fd/*; do
          number=${descriptor##*/}
          if [[ $number -gt 2 ]]; then eval "exec $number>&-" 2>/dev/null || true; fi
        done
        exec setsid dockerd >>/var/log/flotilla-dockerd.log 2>&1 </dev/null
      ) &
    fi
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || die "dockerd did not come up within 30 s; see /var/log/flotilla-dockerd.log"
fi

# ------------------------------------------------------------------ Node 24
ARCH="$(node_arch)"
NODE24_DIR="$ROOT/.tools/node24"
NODE24_BIN="$NODE24_DIR/node_modules/node-linux-$ARCH/bin"

if ! "$NODE24_BIN/node" --version 2>/dev/null | grep -q '^v24\.'; then
  command -v npm >/dev/null 2>&1 || die "npm is required to obtain Node 24"
  log "installing Node 24 into .tools/node24"
  mkdir -p "$NODE24_DIR"
  quietly npm install --prefix "$NODE24_DIR" --no-audit --no-fund --no-save --no-package-lock \
    "node-linux-$ARCH@24" </dev/null || die "could not install node-linux-$ARCH@24"
  "$NODE24_BIN/node" --version 2>/dev/null | grep -q '^v24\.' || die "Node 24 did not install correctly"
fi

# ------------------------------------------------------------- node_modules
# npm runs under Node 24, so any install scripts see the Node that runs the code.
cd "$ROOT"
need_npm=0
if [[ ! -d node_modules ]]; then
  need_npm=1
elif [[ -f package-lock.json ]]; then
  [[ -f node_modules/.package-lock.json && ! package-lock.json -nt node_modules/.package-lock.json ]] || need_npm=1
else
  [[ -f node_modules/.package-lock.json && ! package.json -nt node_modules/.package-lock.json ]] || need_npm=1
fi

if [[ $need_npm -eq 1 ]]; then
  if [[ -f package-lock.json ]]; then
    log "installing node_modules (npm ci)"
    # The registry reachable here serves only this platform's optional packages
    # (e.g. no @msgpackr-extract/*-darwin-*), so `npm ci` can reject even a freshly
    # generated lockfile as "out of sync". Then fall back to an install that honours
    # the lockfile as far as it can but never rewrites it.
    if ! env "PATH=$NODE24_BIN:$PATH" npm ci --no-audit --no-fund </dev/null >/dev/null 2>&1; then
      log "npm ci rejected package-lock.json; using npm install --no-save instead"
      quietly env "PATH=$NODE24_BIN:$PATH" npm install --no-audit --no-fund --no-save </dev/null \
        || die "npm install failed"
    fi
  else
    log "installing node_modules (npm install)"
    quietly env "PATH=$NODE24_BIN:$PATH" npm install --no-audit --no-fund </dev/null || die "npm install failed"
  fi
  # npm ci writes .package-lock.json before the lockfile may be touched again; make sure
  # the freshness check passes next time.
  if [[ -f node_modules/.package-lock.json ]]; then touch node_modules/.package-lock.json; fi
fi

# Compile the daemon and CLI to .build/ when a source changed since the last build (./flotilla runs
# the JavaScript; see tsconfig.build.json for why).
stamp=.build/.stamp
if [[ ! -f $stamp || -n "$(find lib consensus/src network/src node/src tsconfig.json tsconfig.build.json -newer "$stamp" -name '*.ts' -o -newer "$stamp" -name '*.json' 2>/dev/null | head -n 1)" ]]; then
  log "building .build/ (tsc -p tsconfig.build.json)"
  # Build beside the old tree and swap only on success, so a source that does not compile leaves
  # the last good build (and ./flotilla) working.
  rm -rf .build.next
  quietly env "PATH=$NODE24_BIN:$PATH" node_modules/.bin/tsc -p tsconfig.build.json --outDir .build.next </dev/null || { rm -rf .build.next; die "build failed"; }
  rm -rf .build && mv .build.next .build
  touch "$stamp"
fi
