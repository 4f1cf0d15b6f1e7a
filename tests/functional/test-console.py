#!/usr/bin/env python3
"""The -nographic console as a user at a terminal meets it.

Runs kemu on a pseudo-terminal with a guest that prints and then halts
forever, and checks: the guest's output arrives, C-a h prints the help,
C-a x ends kemu with status 0, SIGTERM does the same, and in every case
the terminal settings are restored afterwards.

usage: test-console.py KEMU ACCEL GUEST_ELF   (ACCEL: kvm or tcg)
Exit status: 0 pass, 1 fail, 77 skip (ACCEL kvm and no usable /dev/kvm).
"""
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time

SKIP = 77


def read_until(fd, needle, timeout, seen):
    """Append pty output to seen until needle appears; False on timeout."""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return needle in seen
            if not data:
                return needle in seen
            seen += data
    return True


def start(kemu, guest, accel):
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen(
        [kemu, "-accel", accel, "-m", "64", "-kernel", guest,
         "-append", "exit=3", "-nographic"],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    return proc, master, slave, before


def finish(proc, master, slave, before, how):
    seen = bytearray()
    try:
        status = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"{how}: kemu did not exit within 10 s"
    read_until(master, b"\0", 0.2, seen)    # drain what is left
    after = termios.tcgetattr(slave)
    os.close(master)
    os.close(slave)
    if status != 0:
        return f"{how}: exit status {status}, output: {bytes(seen)!r}"
    if after != before:
        return f"{how}: terminal settings not restored: {before} != {after}"
    return None


def check_escape(kemu, guest, accel):
    proc, master, slave, before = start(kemu, guest, accel)
    seen = bytearray()
    if not read_until(master, b"long64: exit=3", 30, seen):
        proc.kill()
        return f"C-a: guest output missing: {bytes(seen)!r}"
    # The terminal is raw while kemu runs: no echo, no line buffering.
    raw = termios.tcgetattr(slave)
    if raw[3] & (termios.ECHO | termios.ICANON):
        proc.kill()
        return "C-a: terminal not in raw mode while running"
    os.write(master, b"\x01h")
    if not read_until(master, b"C-a x", 10, seen):
        proc.kill()
        return f"C-a h: no help text: {bytes(seen)!r}"
    os.write(master, b"\x01x")
    return finish(proc, master, slave, before, "C-a x")


def check_sigterm(kemu, guest, accel):
    proc, master, slave, before = start(kemu, guest, accel)
    seen = bytearray()
    if not read_until(master, b"long64: exit=3", 30, seen):
        proc.kill()
        return f"SIGTERM: guest output missing: {bytes(seen)!r}"
    proc.send_signal(signal.SIGTERM)
    return finish(proc, master, slave, before, "SIGTERM")


def main():
    kemu, accel, guest = sys.argv[1:4]
    if accel == "kvm":
        try:
            os.close(os.open("/dev/kvm", os.O_RDWR))
        except OSError as e:
            print(f"SKIP: /dev/kvm not available ({e})")
            return SKIP
    failures = [f for f in (check_escape(kemu, guest, accel),
                            check_sigterm(kemu, guest, accel)) if f]
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"PASS ({accel}): C-a h, C-a x and SIGTERM; terminal restored each time")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
