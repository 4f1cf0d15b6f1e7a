#!/usr/bin/env python3
"""Boot the guest kit with virtio-rng-pci and virtio-serial-pci + virtconsole.

usage: test-virtio-misc.py KEMU KIT_DIR CASE [extra kemu args...]

Cases:
  file    the guest writes a line to /dev/hvc0 (a file chardev: the line must
          appear in the file), reads 16 bytes of /dev/hwrng (not all equal)
          and shows the current hw_random source (virtio_rng).
  socket  hvc0 on a unix socket chardev: the guest writes a line, the host
          reads it from the socket and answers a line, which the guest reads
          from /dev/hvc0 and echoes on the serial console.
Exit status: 0 pass, 1 fail.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kemu_guest import BOOT_TIMEOUT, Guest, check_kit  # noqa: E402


RNG_CMD = ("head -c 16 /dev/hwrng | od -An -tx1; "
           "cat /sys/class/misc/hw_random/rng_current")


def check_rng(g):
    m = re.search(rb"^((?: [0-9a-f]{2}){16})\r?$", g.out, re.M)
    if not m:
        return "no 16 hex bytes from /dev/hwrng"
    if len(set(m.group(1).split())) < 2:
        return f"/dev/hwrng bytes are constant: {m.group(1).decode()}"
    if not re.search(rb"^virtio_rng\.\d+\r?$", g.out, re.M):
        return "rng_current does not name virtio_rng"
    return None


def case_file(kemu, kit, tmp, extra):
    path = os.path.join(tmp, "hvc.txt")
    g = Guest(kemu, kit, ["-device", "virtio-rng-pci",
                          "-device", "virtio-serial-pci",
                          "-device", "virtconsole,chardev=c0",
                          "-chardev", f"file,id=c0,path={path}"] + extra,
              run="echo hi-hvc > /dev/hvc0; " + RNG_CMD)
    if not g.wait_for(rb"KEMU-RUN-EXIT=\d+"):
        return g.fail("no KEMU-RUN-EXIT line")
    status = g.finish()
    if b"KEMU-RUN-EXIT=0" not in g.out or status != 0:
        return g.fail(f"exit status {status}")
    why = check_rng(g)
    if why:
        return g.fail(why)
    with open(path, "rb") as f:
        hvc = f.read()
    if not re.search(rb"^hi-hvc\r?$", hvc, re.M):
        return g.fail(f"hvc0 output file holds {hvc!r}, not hi-hvc")
    print(f"PASS: hvc0 wrote {hvc!r} to the file chardev; hwrng gave random bytes")
    return 0


def case_socket(kemu, kit, tmp, extra):
    path = os.path.join(tmp, "hvc.sock")
    g = Guest(kemu, kit, ["-device", "virtio-serial-pci,id=vs0",
                          "-device", "virtconsole,bus=vs0.0,chardev=c0",
                          "-chardev", f"socket,id=c0,path={path},server=on,wait=off"]
              + extra,
              # One open of hvc0 for both directions: input that arrives
              # while no one holds the tty open is dropped by Linux.
              run="exec 3<>/dev/hvc0; echo from-guest >&3; read -r line <&3; "
                  "echo \"hvc-got-$line\"")
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        if time.monotonic() > deadline or g.p.poll() is not None:
            return g.fail("the chardev socket never appeared")
        time.sleep(0.05)    # polling for the socket file to exist
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(BOOT_TIMEOUT)
    got = b""
    try:
        while b"from-guest" not in got:
            data = s.recv(4096)
            if not data:
                break
            got += data
    except socket.timeout:
        pass
    if b"from-guest" not in got:
        s.close()
        return g.fail(f"the socket got {got!r}, not from-guest")
    s.sendall(b"host-says-hi\n")
    ok = g.wait_for(rb"hvc-got-host-says-hi")
    s.close()
    if not ok:
        return g.fail("the guest did not read the host's line from hvc0")
    status = g.finish()
    if status != 0:
        return g.fail(f"exit status {status}")
    print("PASS: hvc0 over a unix socket, both directions")
    return 0


CASES = {"file": case_file, "socket": case_socket}


def main():
    kemu, kit, case = sys.argv[1:4]
    extra = sys.argv[4:]
    missing = check_kit(kit)
    if missing:
        print(missing)
        return 1
    with tempfile.TemporaryDirectory(prefix="kemu-virtio-misc-") as tmp:
        return CASES[case](kemu, kit, tmp, extra)


if __name__ == "__main__":
    sys.exit(main())
