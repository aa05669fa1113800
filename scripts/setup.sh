#!/usr/bin/env bash
# Installs the Debian packages in scripts/packages.txt that are missing. A no-op (no apt
# call at all) when every one is present, so it is cheap to run before every build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

missing=()
while read -r package; do
  [[ -z "$package" || "$package" == \#* ]] && continue
  status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done < "$here/packages.txt"
# The web UI (ui/) builds with Node.js 18 or newer and npm: Debian's nodejs and npm unless
# a Node.js from elsewhere is installed already (its own npm comes with it, and Debian's
# npm package would not install beside it).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=""
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
