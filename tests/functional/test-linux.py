#!/usr/bin/env python3
"""Boot the guest kit (Debian's kernel + busybox) and check what a user would.

usage: test-linux.py KEMU KIT_DIR INIT_SRC CASE [extra kemu args...]

Cases:
  run       kemu.run computes sha256sum /init; the guest's digest must equal
            the host's digest of INIT_SRC (the kit copies it byte for byte);
            the guest powers off and kemu exits 0.
  smp       -smp 2: /proc/cpuinfo lists two processors.
  shell     no kemu.run: an interactive shell on the serial console answers
            a command typed on stdin, and `poweroff -f` ends kemu with 0.
  reboot    `reboot -f` resets the machine: the guest boots a second time
            (its marker appears twice); SIGTERM then ends kemu with 0.
  no-reboot `reboot -f` with -no-reboot ends kemu with status 0.
Exit status: 0 pass, 1 fail.
"""
import hashlib
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kemu_guest import BOOT_TIMEOUT, MARKER, Guest, check_kit  # noqa: E402


def case_run(kemu, kit, init_src, extra):
    with open(init_src, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    g = Guest(kemu, kit, extra, no_reboot=False, interactive=True, run="sha256sum /init")
    if not g.wait_for(rb"KEMU-RUN-EXIT=\d+"):
        return g.fail("no KEMU-RUN-EXIT line")
    status = g.finish()
    if f"{want}  /init".encode() not in g.out:
        return g.fail(f"guest digest of /init is not the host's {want}")
    if b"KEMU-RUN-EXIT=0" not in g.out or status != 0:
        return g.fail(f"exit status {status}")
    print(f"PASS: sha256sum /init = {want}, kemu exit 0")
    return 0


def case_smp(kemu, kit, init_src, extra):
    g = Guest(kemu, kit, ["-smp", "2"] + extra, no_reboot=False, interactive=True,
              run="grep -c ^processor /proc/cpuinfo")
    if not g.wait_for(rb"KEMU-RUN-EXIT=\d+"):
        return g.fail("no KEMU-RUN-EXIT line")
    status = g.finish()
    if not re.search(rb"^2\r?$", g.out, re.M) or status != 0:
        return g.fail(f"expected 2 processors and exit 0 (status {status})")
    print("PASS: two processors in /proc/cpuinfo")
    return 0


def case_shell(kemu, kit, init_src, extra):
    g = Guest(kemu, kit, extra, no_reboot=False, interactive=True)
    if not g.wait_for(MARKER):
        return g.fail("no marker")
    g.send("echo shell-says-$((6*7))\n")
    if not g.wait_for(rb"shell-says-42", timeout=60):
        return g.fail("the shell did not answer")
    g.send("poweroff -f\n")
    status = g.finish()
    if status != 0:
        return g.fail(f"poweroff: exit status {status}")
    print("PASS: interactive shell answered; poweroff exits 0")
    return 0


def case_reboot(kemu, kit, init_src, extra):
    g = Guest(kemu, kit, extra, no_reboot=False, interactive=True)
    if not g.wait_for(MARKER):
        return g.fail("no marker")
    g.send("reboot -f\n")
    if not g.wait_for(MARKER, count=2):
        return g.fail("the guest did not boot a second time after reboot")
    g.p.send_signal(signal.SIGTERM)
    status = g.finish()
    if status != 0:
        return g.fail(f"SIGTERM: exit status {status}")
    print("PASS: reboot reset the guest, which booted again")
    return 0


def case_no_reboot(kemu, kit, init_src, extra):
    g = Guest(kemu, kit, ["-no-reboot"] + extra, no_reboot=False, interactive=True,
              run="reboot -f")
    status = g.finish(timeout=BOOT_TIMEOUT)
    if status != 0 or MARKER not in g.out:
        return g.fail(f"reboot with -no-reboot: exit status {status}")
    print("PASS: reboot with -no-reboot exits 0")
    return 0


CASES = {"run": case_run, "smp": case_smp, "shell": case_shell,
         "reboot": case_reboot, "no-reboot": case_no_reboot}


def main():
    kemu, kit, init_src, case = sys.argv[1:5]
    extra = sys.argv[5:]
    missing = check_kit(kit)
    if missing:
        print(missing)
        return 1
    return CASES[case](kemu, kit, init_src, extra)


if __name__ == "__main__":
    sys.exit(main())
