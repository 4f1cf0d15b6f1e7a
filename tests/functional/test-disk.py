#!/usr/bin/env python3
"""Boot the guest kit with a virtio-blk disk and check the image on the host.

usage: test-disk.py KEMU KIT_DIR CASE [extra kemu args...]

Cases:
  rw        -drive if=virtio: the guest sees the size, reads a sector the
            host wrote, writes one with dd; the host finds it in the image.
  readonly  -drive readonly=on: /sys/block/vda/ro is 1, a dd write fails,
            the image is unchanged.
  blockdev  -blockdev file + raw, -device virtio-blk-pci,serial=: the guest
            reads the serial from sysfs and writes through cache=none.
  sigkill   the guest writes with O_DIRECT + fsync and says so; kemu is then
            killed with SIGKILL: the data is in the image all the same.
Exit status: 0 pass, 1 fail.
"""
import base64
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

APPEND = "console=ttyS0 quiet nokaslr mitigations=off tsc=reliable no_timer_check panic=-1"
BOOT_TIMEOUT = 240     # seconds; a loaded 2-core CI machine is slow
IMG_SIZE = 8 << 20
SECTORS = IMG_SIZE // 512
HOST_MARK = b"host-wrote-this-sector-5"
GUEST_MARK = "kemu-guest-wrote-this"


class Guest:
    def __init__(self, kemu, kit, args, run):
        append = APPEND + " kemu.run=" + base64.b64encode(run.encode()).decode()
        self.argv = [kemu, "-accel", "tcg", "-m", "512",
                     "-kernel", os.path.join(kit, "vmlinuz"),
                     "-initrd", os.path.join(kit, "initrd.img"),
                     "-append", append, "-nographic", "-no-reboot"] + args
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = b""

    def wait_for(self, pattern, timeout=BOOT_TIMEOUT):
        """Read output until @pattern (bytes regex) matches."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while not re.search(pattern, self.out):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([fd], [], [], left)
            if r:
                data = os.read(fd, 65536)
                if not data:
                    return re.search(pattern, self.out) is not None
                self.out += data
        return True

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


def make_image(path):
    with open(path, "wb") as f:
        f.truncate(IMG_SIZE)
        f.seek(5 * 512)
        f.write(HOST_MARK)


def read_image(path, sector, n):
    with open(path, "rb") as f:
        f.seek(sector * 512)
        return f.read(n)


def run_to_end(g):
    """Wait for KEMU-RUN-EXIT and the process end; None or a failure reason."""
    if not g.wait_for(rb"KEMU-RUN-EXIT=\d+"):
        return "no KEMU-RUN-EXIT line"
    status = g.finish()
    if status != 0:
        return f"kemu exit status {status}"
    return None


WRITE_CMD = f"echo {GUEST_MARK} | dd of=/dev/vda bs=512 count=1 seek=2 conv=sync,fsync"
READ5_CMD = "dd if=/dev/vda bs=512 skip=5 count=1 2>/dev/null | head -c 24; echo"


def case_rw(kemu, kit, img, extra):
    g = Guest(kemu, kit, ["-drive", f"file={img},format=raw,if=virtio"] + extra,
              run=f"echo size=$(cat /sys/block/vda/size); {READ5_CMD}; {WRITE_CMD}")
    why = run_to_end(g)
    if why:
        return g.fail(why)
    if f"size={SECTORS}".encode() not in g.out:
        return g.fail(f"/sys/block/vda/size is not {SECTORS}")
    if HOST_MARK not in g.out:
        return g.fail("the guest did not read the host's sector 5")
    got = read_image(img, 2, len(GUEST_MARK))
    if got != GUEST_MARK.encode():
        return g.fail(f"sector 2 of the image holds {got!r}")
    print("PASS: size, a host-written sector read, a guest-written sector on the host")
    return 0


def case_readonly(kemu, kit, img, extra):
    g = Guest(kemu, kit, ["-drive", f"file={img},format=raw,if=virtio,readonly=on"] + extra,
              run=f"echo ro=$(cat /sys/block/vda/ro); {READ5_CMD}; "
                  f"if {WRITE_CMD}; then echo WRITE-OK; else echo WRITE-REFUSED; fi")
    why = run_to_end(g)
    if why:
        return g.fail(why)
    if b"ro=1" not in g.out:
        return g.fail("/sys/block/vda/ro is not 1")
    if HOST_MARK not in g.out:
        return g.fail("the guest could not read the read-only disk")
    if b"WRITE-REFUSED" not in g.out:
        return g.fail("a write to the read-only disk did not fail")
    if read_image(img, 2, 512) != bytes(512):
        return g.fail("the read-only image changed")
    print("PASS: read-only disk readable, writes refused, image unchanged")
    return 0


def case_blockdev(kemu, kit, img, extra):
    g = Guest(kemu, kit,
              ["-blockdev", f"driver=file,filename={img},node-name=f0,cache.direct=on",
               "-blockdev", "driver=raw,file=f0,node-name=disk0",
               "-device", "virtio-blk-pci,drive=disk0,serial=KEMU-SERIAL-42"] + extra,
              run=f"echo serial=$(cat /sys/block/vda/serial); {WRITE_CMD}")
    why = run_to_end(g)
    if why:
        return g.fail(why)
    if b"serial=KEMU-SERIAL-42" not in g.out:
        return g.fail("/sys/block/vda/serial is not KEMU-SERIAL-42")
    if read_image(img, 2, len(GUEST_MARK)) != GUEST_MARK.encode():
        return g.fail("the O_DIRECT write is not in the image")
    print("PASS: -blockdev + -device virtio-blk-pci, serial, cache.direct write")
    return 0


def case_sigkill(kemu, kit, img, extra):
    g = Guest(kemu, kit, ["-drive", f"file={img},format=raw,if=virtio"] + extra,
              run=f"{WRITE_CMD} oflag=direct && echo WROTE-AND-SYNCED; sleep 1000")
    if not g.wait_for(rb"WROTE-AND-SYNCED"):
        return g.fail("the guest never reported its write")
    g.p.send_signal(signal.SIGKILL)
    g.p.wait()
    if read_image(img, 2, len(GUEST_MARK)) != GUEST_MARK.encode():
        return g.fail("data the guest had synced is not in the image after SIGKILL")
    print("PASS: synced guest data survives SIGKILL of kemu")
    return 0


CASES = {"rw": case_rw, "readonly": case_readonly, "blockdev": case_blockdev,
         "sigkill": case_sigkill}


def main():
    kemu, kit, case = sys.argv[1:4]
    extra = sys.argv[4:]
    for f in ("vmlinuz", "initrd.img"):
        if not os.path.exists(os.path.join(kit, f)):
            print(f"FAIL: {kit}/{f} is missing: run scripts/guest-kit.py (make check does)")
            return 1
    with tempfile.TemporaryDirectory(prefix="kemu-disk-", dir="/var/tmp") as tmp:
        img = os.path.join(tmp, "disk.img")
        make_image(img)
        return CASES[case](kemu, kit, img, extra)


if __name__ == "__main__":
    sys.exit(main())
