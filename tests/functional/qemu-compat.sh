#!/bin/sh
# Run the test guests under Debian's QEMU as a reference for kemu's
# guest tests (tests/guest/meson.build). Not a meson test: QEMU is an
# oracle here, not the thing under test.
#
# usage: tests/functional/qemu-compat.sh BUILD_DIR [ACCEL...]   (default: kvm tcg)
#
# Known differences from kemu, expected below:
# - realmode: QEMU's "-device loader,cpu-num=0" sets EIP but leaves CS at
#   the reset value, so the image is booted by SeaBIOS as a floppy boot
#   sector instead (the image carries the 0x55AA signature for this).
# - triple-fault: QEMU resets on a triple fault; with -no-reboot it exits
#   with status 0 and prints no register dump.
# - mmio-unmapped: QEMU 7.2 reads unassigned MMIO as 0, not all-ones, so
#   the guest reports "read 00000000" and fails (status 255).
set -u

build=${1:?usage: $0 BUILD_DIR [ACCEL...]}
shift
[ $# -gt 0 ] || set -- kvm tcg
qemu=${QEMU:-qemu-system-x86_64}
here=$(cd "$(dirname "$0")" && pwd)
runner="$here/../guest/run-guest.py"
g="$build/tests/guest"
pass=0
fail=0
skip=0

# check NAME ACCEL RUNNER-OPTIONS... -- QEMU-ARGS...
check() {
    name=$1 accel=$2
    shift 2
    echo "=== $name ($accel)"
    python3 "$runner" --kemu "$qemu" --timeout 30 "$@"
    case $? in
    0) pass=$((pass + 1)) ;;
    77) skip=$((skip + 1)) ;;
    *) fail=$((fail + 1)); echo "*** $name ($accel) FAILED" ;;
    esac
}

for accel in "$@"; do
    common="-accel $accel -m 64 -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio -display none"
    # shellcheck disable=SC2086  # $common is a word list on purpose
    {
    check realmode "$accel" --status 33 --expect-stdout '^realmode: hello' \
        -- $common -drive "file=$g/realmode.bin,format=raw,if=floppy"
    check pm32 "$accel" --status 35 --expect-stdout '^pm32: cmdline=.*x y$' '^pm32: mem_upper=[1-9]' \
        -- $common -kernel "$g/pm32.elf" -append 'x y'
    check long64 "$accel" --status 85 \
        --expect-stdout '^long64: hello from long mode$' '^long64: cmdline=.*exit=42 hello$' \
        -- $common -kernel "$g/long64.elf" -append 'exit=42 hello'
    check io-roundtrip "$accel" --status 39 --expect-stdout '^io: all [0-9]+ checks passed$' \
        -- $common -device pc-testdev -kernel "$g/io-roundtrip.elf"
    check pit-irq "$accel" --status 41 --expect-stdout '^pit: 10 ticks$' \
        -- $common -kernel "$g/pit-irq.elf"
    check smp "$accel" --status 5 --expect-stdout '^smp: cpu 1 up$' '^smp: 2 cpus up$' \
        -- $common -smp 2 -kernel "$g/smp.elf"
    check triple-fault "$accel" --status 0 --expect-stdout '^triple: about to fault$' \
        -- $common -no-reboot -kernel "$g/triple-fault.elf"
    check mmio-unmapped "$accel" --status 255 --expect-stdout '^unmapped: read 00000000$' \
        -- $common -kernel "$g/mmio-unmapped.elf"
    }
done
echo "qemu-compat: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
