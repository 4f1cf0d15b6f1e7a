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
import base64
import hashlib
import os
import re
import select
import signal
import subprocess
import sys
import time

APPEND = "console=ttyS0 quiet nokaslr mitigations=off tsc=reliable no_timer_check panic=-1"
MARKER = b"KEMU-GUEST-READY"
BOOT_TIMEOUT = 240     # seconds; a loaded 2-core CI machine is slow


class Guest:
    def __init__(self, kemu, kit, args, run=None):
        append = APPEND
        if run is not None:
            append += " kemu.run=" + base64.b64encode(run.encode()).decode()
        self.argv = [kemu, "-accel", "tcg", "-m", "512",
                     "-kernel", os.path.join(kit, "vmlinuz"),
                     "-initrd", os.path.join(kit, "initrd.img"),
                     "-append", append, "-nographic"] + args
        self.p = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = b""

    def wait_for(self, pattern, timeout=BOOT_TIMEOUT, count=1):
        """Read output until @pattern (bytes regex) matched @count times."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while len(re.findall(pattern, self.out)) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([fd], [], [], left)
            if r:
                data = os.read(fd, 65536)
                if not data:
                    return len(re.findall(pattern, self.out)) >= count
                self.out += data
        return True

    def send(self, text):
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def finish(self, timeout=60):
        try:
            status = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None
        self.out += self.p.stdout.read()
        return status

    def fail(self, why):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        tail = self.out[-3000:].decode(errors="replace")
        print(f"FAIL: {why}\n--- command: {' '.join(self.argv)}\n--- output (tail):\n{tail}")
        return 1


def case_run(kemu, kit, init_src, extra):
    with open(init_src, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    g = Guest(kemu, kit, extra, run="sha256sum /init")
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
    g = Guest(kemu, kit, ["-smp", "2"] + extra, run="grep -c ^processor /proc/cpuinfo")
    if not g.wait_for(rb"KEMU-RUN-EXIT=\d+"):
        return g.fail("no KEMU-RUN-EXIT line")
    status = g.finish()
    if not re.search(rb"^2\r?$", g.out, re.M) or status != 0:
        return g.fail(f"expected 2 processors and exit 0 (status {status})")
    print("PASS: two processors in /proc/cpuinfo")
    return 0


def case_shell(kemu, kit, init_src, extra):
    g = Guest(kemu, kit, extra)
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
    g = Guest(kemu, kit, extra)
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
    g = Guest(kemu, kit, ["-no-reboot"] + extra, run="reboot -f")
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
    for f in ("vmlinuz", "initrd.img"):
        if not os.path.exists(os.path.join(kit, f)):
            print(f"FAIL: {kit}/{f} is missing: run scripts/guest-kit.py (make check does)")
            return 1
    return CASES[case](kemu, kit, init_src, extra)


if __name__ == "__main__":
    sys.exit(main())
