#!/bin/sh
# `make run`: boot the guest kit (Debian's kernel + a busybox initramfs,
# built by scripts/guest-kit.py) to an interactive shell on this terminal.
# `poweroff -f` in the guest, or C-a x, ends it.
set -eu
build=${1:-build}
kit=.cache/guest-kit
exec "$build/kemu" -m 512 -kernel "$kit/vmlinuz" -initrd "$kit/initrd.img" \
    -append "console=ttyS0 quiet nokaslr mitigations=off tsc=reliable no_timer_check cryptomgr.notests panic=-1" \
    -nographic
