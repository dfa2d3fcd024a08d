#!/usr/bin/env bash
# Usage: ensure-debian-packages.sh PURPOSE PACKAGE...
# Installs the Debian packages that are missing when running as root; otherwise names them and
# exits 1 so the caller can decide whether that is fatal (it is under CI=true).
set -euo pipefail
purpose=$1; shift
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian packages for $purpose: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
cat >&2 <<MSG
Missing Debian packages for $purpose: ${missing[*]}
Install them with:  sudo apt-get install --no-install-recommends ${missing[*]}
MSG
exit 1
