#!/bin/sh
# `make run`: boot the default guest on this terminal. Until Linux boots
# (the interpreter issue), the default guest is the long-mode demo from
# tests/guest: it prints its greeting and command line, then powers off.
set -eu
build=${1:-build}
guest="$build/tests/guest/long64.elf"
[ -f "$guest" ] || { echo "run: $guest is missing (was the build configured with guest tests?)" >&2; exit 1; }
exec "$build/kemu" -m 64 -kernel "$guest" -append "hello from make run" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 -nographic
