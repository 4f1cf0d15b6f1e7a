#!/bin/sh
# Install kemu's build and test dependencies from Debian's packages.
# Idempotent: packages already present are not downloaded again.
set -eu

PKGS="build-essential meson ninja-build pkg-config libglib2.0-dev python3
      libpixman-1-dev libsdl2-dev libslirp-dev
      liblzma-dev liblz4-dev libzstd-dev zlib1g-dev libzydis-dev acpica-tools liburing-dev libjansson-dev
      clang libclang-rt-14-dev e2fsprogs iproute2"

# --bench: also Debian's QEMU, the side-by-side reference in bench/.
[ "${1:-}" = "--bench" ] && PKGS="$PKGS qemu-system-x86 qemu-utils"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing (run as root, or install them)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
