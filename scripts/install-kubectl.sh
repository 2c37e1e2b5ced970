#!/usr/bin/env bash
# Puts kubectl 1.20 (Debian bookworm `kubernetes-client`, 1.20.5+really1.20.2) in
# .tools/kubectl120/usr/bin/kubectl, for the Kubernetes API compatibility tests.
#
#   scripts/install-kubectl.sh        # prints the path of the kubectl binary
#
# - never touches /usr/bin: `apt-get install` can conflict with an existing /usr/bin/kubectl
#   (google-cloud-cli ships one), so the .deb is fetched with `apt-get download` and unpacked
#   with `dpkg-deb -x`;
# - runs `apt-get update` only when apt does not know the package yet;
# - idempotent and quiet: when a working kubectl 1.20 is already there it only prints its path;
# - verifies that `kubectl version --client` reports v1.20.x.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.tools/kubectl120"
KUBECTL="$DEST/usr/bin/kubectl"
PACKAGE=kubernetes-client

log() { printf 'install-kubectl: %s\n' "$*" >&2; }
die() { printf 'install-kubectl: error: %s\n' "$*" >&2; exit 1; }

# True when $KUBECTL exists and reports a 1.20 client version.
is_kubectl_120() {
  [[ -x $KUBECTL ]] || return 1
  local version
  version="$("$KUBECTL" version --client --short 2>/dev/null || "$KUBECTL" version --client 2>/dev/null)" || return 1
  [[ $version == *v1.20.* ]]
}

if is_kubectl_120; then
  printf '%s\n' "$KUBECTL"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found (a Debian-based system is needed)"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found"

# Serialise concurrent runs (two test files installing at once).
if [[ -z ${FLOTILLA_KUBECTL_LOCKED:-} ]] && command -v flock >/dev/null 2>&1; then
  mkdir -p "$ROOT/.tools"
  export FLOTILLA_KUBECTL_LOCKED=1
  exec flock "$ROOT/.tools/kubectl120.lock" bash "${BASH_SOURCE[0]}" "$@"
fi

candidate() { apt-cache policy "$PACKAGE" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }

version="$(candidate)"
if [[ -z $version || $version == "(none)" ]]; then
  log "apt-get update (apt does not know $PACKAGE yet)"
  apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed (are you root?)"
  version="$(candidate)"
  [[ -n $version && $version != "(none)" ]] || die "apt has no $PACKAGE package"
fi
[[ $version == *1.20.* ]] || die "apt offers $PACKAGE $version, not 1.20.x"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log "downloading $PACKAGE $version"
# apt-get download writes into the current directory; the _apt sandbox user cannot write to a
# private mktemp directory, so make it world-writable for the download.
chmod 0777 "$work"
download() { (cd "$work" && apt-get download -qq "$PACKAGE=$version" >/dev/null 2>&1); }
if ! download; then
  # Stale package lists name a file the mirror no longer has: refresh them once and retry.
  log "apt-get update (download failed; package lists may be stale)"
  apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed (are you root?)"
  version="$(candidate)"
  [[ $version == *1.20.* ]] || die "apt offers $PACKAGE $version, not 1.20.x"
  download || die "apt-get download $PACKAGE=$version failed"
fi
deb="$(find "$work" -maxdepth 1 -name "${PACKAGE}_*.deb" | head -n 1)"
[[ -n $deb ]] || die "apt-get download produced no .deb"

rm -rf "$DEST.tmp"
mkdir -p "$DEST.tmp"
dpkg-deb -x "$deb" "$DEST.tmp" || die "dpkg-deb -x failed"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"

is_kubectl_120 || die "$KUBECTL does not report a v1.20.x client version"
log "installed kubectl $("$KUBECTL" version --client --short 2>/dev/null || true)"
printf '%s\n' "$KUBECTL"
