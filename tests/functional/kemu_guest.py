"""Shared helper for the functional tests: boot the guest kit under kemu.

The kit (scripts/guest-kit.py) is Debian's kernel + a busybox initrd whose
/init runs the base64 command of kemu.run=..., prints KEMU-RUN-EXIT=N and
powers off (docs/guest-kit.md). Guest starts kemu on it and reads the
serial console; tests match what the guest prints.
"""
import base64
import hashlib
import os
import re
import select
import socket
import subprocess
import time

APPEND = ("console=ttyS0 quiet nokaslr mitigations=off tsc=reliable "
          "no_timer_check cryptomgr.notests panic=-1")
MARKER = b"KEMU-GUEST-READY"
BOOT_TIMEOUT = 240     # seconds; a loaded 2-core CI machine is slow


def check_kit(kit):
    """None if KIT holds vmlinuz and initrd.img, else a message to print."""
    for f in ("vmlinuz", "initrd.img"):
        if not os.path.exists(os.path.join(kit, f)):
            return f"FAIL: {kit}/{f} is missing: run scripts/guest-kit.py (make check does)"
    return None


class Guest:
    """kemu running the kit with -nographic; output collected in self.out.

    run: the guest command (kemu.run), or None for an interactive shell.
    no_reboot: pass -no-reboot so a guest poweroff/reboot ends kemu.
    interactive: stdin is a pipe (send() types on the console) rather
    than /dev/null.
    label: prefix for the FAIL line (e.g. the NIC model).
    wrap: command words to run kemu under (e.g. ip netns exec NS).
    """

    def __init__(self, kemu, kit, args, run=None, no_reboot=True, interactive=False,
                 label="", wrap=()):
        append = APPEND
        if run is not None:
            append += " kemu.run=" + base64.b64encode(run.encode()).decode()
        self.argv = list(wrap) + [kemu, "-accel", "tcg", "-m", "512",
                                  "-kernel", os.path.join(kit, "vmlinuz"),
                                  "-initrd", os.path.join(kit, "initrd.img"),
                                  "-append", append, "-nographic"]
        if no_reboot:
            self.argv.append("-no-reboot")
        self.argv += args
        self.label = label
        self.p = subprocess.Popen(self.argv,
                                  stdin=subprocess.PIPE if interactive else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = b""

    def wait_for(self, pattern, timeout=BOOT_TIMEOUT, count=1):
        """Read output until @pattern (bytes regex) matched @count times.

        Returns the first match (truthy) or None on timeout / end of output.
        """
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while len(re.findall(pattern, self.out)) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if r:
                data = os.read(fd, 65536)
                if not data:
                    break
                self.out += data
        if len(re.findall(pattern, self.out)) < count:
            return None
        return re.search(pattern, self.out)

    def send(self, text):
        """Type @text on the serial console (interactive guests only)."""
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def finish(self, timeout=60):
        """Wait for kemu to exit; its status, or None if it had to be killed."""
        try:
            status = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None
        self.out += self.p.stdout.read()
        return status

    def fail(self, why):
        """Kill kemu, print @why with the command and output tail; returns 1."""
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        tail = self.out[-3000:].decode(errors="replace")
        tag = f" ({self.label})" if self.label else ""
        print(f"FAIL{tag}: {why}\n--- command: {' '.join(self.argv)}\n--- output (tail):\n{tail}")
        return 1


def hostfwd_deliver(g, port, nbytes, timeout=300):
    """Once the guest printed NC-LISTENING, send NBYTES random bytes to
    127.0.0.1:PORT (a hostfwd into the guest's listener) and check the
    guest's `RECEIVED <sha256>` line. None, or a failure reason."""
    if (not g.wait_for(rb"NC-LISTENING|KEMU-RUN-EXIT=\d+", timeout=timeout)
            or b"NC-LISTENING" not in g.out):
        return "the guest's nc listener did not start"
    data = os.urandom(nbytes)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as c:
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        c.settimeout(timeout)
        while c.recv(65536):
            pass
    m = g.wait_for(rb"RECEIVED ([0-9a-f]{64})|KEMU-RUN-EXIT=\d+", timeout=timeout)
    if not m or not m.group(1) or m.group(1).decode() != hashlib.sha256(data).hexdigest():
        return "hostfwd: the guest's digest of the received data is wrong (or none)"
    return None


def run_to_end(g):
    """Wait for KEMU-RUN-EXIT and the process end; None or a failure reason."""
    if not g.wait_for(rb"KEMU-RUN-EXIT=\d+"):
        return "no KEMU-RUN-EXIT line"
    status = g.finish()
    if status != 0:
        return f"kemu exit status {status}"
    return None
