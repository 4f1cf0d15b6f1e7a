#!/usr/bin/env python3
"""HMP `x` through the guest's page tables, under one accelerator, on the
purpose-built guest tests/guest/hmp-x.c: it maps 0xffffffff81000000 to a
page at another physical address and fills it with a pattern. `x` at the
virtual address must show the pattern `xp` shows at the physical one, an
unmapped address must print "Cannot access memory", and quit must end kemu
with status 0. Under kvm this reads the registers and page tables as KVM
holds them (the Linux-kit variant of this check, test-qmp-multi.py, runs
under the interpreter only: a software KVM cannot boot the kit).

usage: test-hmp-x.py KEMU ACCEL GUEST   (exit 77 when ACCEL is kvm and
/dev/kvm cannot be opened)"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kemu_machine import Machine  # noqa: E402
from hmp_dump import check_x_vs_xp  # noqa: E402

PATTERN = [(0x11 + 7 * i) & 0xff for i in range(32)]


def main():
    kemu, accel, guest = sys.argv[1:4]
    if accel == "kvm":
        try:
            os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
        except OSError as e:
            print(f"SKIP: /dev/kvm cannot be opened ({e.strerror})")
            return 77
    with Machine(kemu, ["-accel", accel, "-m", "64", "-kernel", guest]) as vm:
        m = vm.wait_for_console(r"hmp-x: ready virt=([0-9a-f]+) phys=([0-9a-f]+)", timeout=30)
        virt, phys = int(m.group(1), 16), int(m.group(2), 16)
        got = check_x_vs_xp(vm, accel, virt, phys)
        assert got == PATTERN, f"{accel}: x {virt:#x} shows {got}, the guest wrote {PATTERN}"
        status = vm.shutdown()
        assert status == 0, f"quit: exit status {status}\n{vm.stderr}"
    print(f"PASS ({accel}): x {virt:#x} == xp {phys:#x} == the guest's pattern; "
          "unmapped refused; quit exits 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
