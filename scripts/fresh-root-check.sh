#!/usr/bin/env bash
# The first stage of the test suite: the README's set-up on a fresh Debian 12 system.
#
# Machines that have built Kiln before keep every package ever installed on them, so a
# package the build needs but scripts/packages.txt lacks goes unnoticed there and fails a
# newcomer's first command. This stage catches that:
#   1. a minimal Debian 12 root is made with debootstrap (once; kept in $KILN_FRESH_ROOT_BASE),
#   2. it is copied, and the checkout's files (tracked and new, not ignored) are copied in,
#   3. inside it, as root: scripts/setup.sh installs what the set-up installs, then
#      scripts/build.sh configures the build (KILN_CONFIGURE_ONLY=1), exactly as the README's
#      commands do.
# Everything runs in a private mount namespace, so the root's mounts go away with it however
# the stage ends, and the copy is removed on exit. Downloaded .deb files are kept between
# runs in $KILN_FRESH_APT_CACHE (a cache of downloads; every run still installs everything).
#
# It needs root (debootstrap, chroot, mounts). Otherwise, or with KILN_SKIP_FRESH_ROOT=1,
# it says that it was skipped and why, and exits 0.
# Usage: scripts/fresh-root-check.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${KILN_FRESH_ROOT_BASE:-/var/tmp/kiln-fresh-root.base}"
apt_cache="${KILN_FRESH_APT_CACHE:-/var/tmp/kiln-fresh-apt-cache}"
say() { echo "fresh-root check: $*"; }

if [[ "$(id -u)" != 0 ]]; then
  say "SKIPPED: it needs root (debootstrap, chroot and mounts); run scripts/test.sh as root"
  exit 0
fi
if [[ "${KILN_SKIP_FRESH_ROOT:-}" == 1 ]]; then
  say "SKIPPED: KILN_SKIP_FRESH_ROOT=1 is set"
  exit 0
fi
command -v debootstrap >/dev/null || { say "debootstrap is missing (scripts/setup.sh installs it)"; exit 1; }

started=$SECONDS
try="$(mktemp -d /var/tmp/kiln-fresh-try.XXXXXX)"
trap 'rm -rf --one-file-system "$try"' EXIT

if [[ ! -x "$base/bin/bash" ]]; then
  mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)"
  [[ -n "$mirror" ]] || mirror="$(awk '/^deb / && /bookworm/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)"
  [[ -n "$mirror" ]] || mirror="http://deb.debian.org/debian"
  say "making a minimal Debian 12 root in $base (once) from $mirror"
  rm -rf "$base.part"
  if ! debootstrap --variant=minbase bookworm "$base.part" "$mirror" >"$try/debootstrap.log" 2>&1; then
    tail -n 20 "$try/debootstrap.log"
    say "FAILED: debootstrap could not make a Debian 12 root"
    exit 1
  fi
  mv "$base.part" "$base"
fi

cp -a "$base" "$try/root"
cp /etc/resolv.conf "$try/root/etc/resolv.conf" 2>/dev/null || true
mkdir -p "$try/root/project" "$apt_cache/partial"
# The checkout as it is now, without what git ignores (build folders, caches).
git -C "$root" ls-files -z --cached --others --exclude-standard \
  | (cd "$root" && tar --null --files-from=- --ignore-failed-read -cf -) \
  | tar -xf - -C "$try/root/project"

steps='scripts/setup.sh && KILN_CONFIGURE_ONLY=1 scripts/build.sh /project/build'
say "scripts/setup.sh and the build's configure on a fresh Debian 12 root"
# shellcheck disable=SC2016  # expanded by the inner shell
if unshare --mount --propagation private bash -c '
    set -e
    r="$1"; cache="$2"; steps="$3"
    mount --bind /dev "$r/dev"
    mount --bind /dev/pts "$r/dev/pts"
    mount -t proc proc "$r/proc"
    mount -t sysfs sys "$r/sys"
    mkdir -p "$r/var/cache/apt/archives"
    mount --bind "$cache" "$r/var/cache/apt/archives"
    exec chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      /bin/bash -c "cd /project && $steps"' _ "$try/root" "$apt_cache" "$steps" \
    >"$try/out.log" 2>&1; then
  say "passed in $((SECONDS - started)) s"
else
  grep -v -E '^(Get:|Preparing|Unpacking|Selecting|Setting up|Processing|Reading|Building dependency|Created symlink)' \
    "$try/out.log" | tail -n 40
  say "FAILED: the set-up does not install what the build needs on a fresh Debian 12 (log above)"
  exit 1
fi
