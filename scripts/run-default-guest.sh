#!/bin/sh
# `make run`: boot the default guest on this terminal. Until Linux boots
# (the interpreter issue), the default guest is the long-mode demo from
# tests/guest: it prints its greeting and command line, then powers off
# through isa-debug-exit with the code given as exit=N (status 2N+1).
set -u
build=${1:-build}
guest="$build/tests/guest/long64.elf"
[ -f "$guest" ] || { echo "run: $guest is missing (was the build configured with guest tests?)" >&2; exit 1; }
"$build/kemu" -m 64 -kernel "$guest" -append "exit=42 hello from make run" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 -nographic
status=$?
if [ "$status" -eq 85 ]; then
    echo "run: the guest powered off normally"
    exit 0
fi
echo "run: kemu exited with status $status" >&2
exit "$status"
