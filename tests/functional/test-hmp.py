#!/usr/bin/env python3
"""The human monitor (HMP) as a user at a terminal drives it: every command
docs/qmp.md lists, on `-monitor stdio` and through `C-a c` on the
-nographic multiplexer, under the interpreter with the long64 guest (it
prints its command line, then halts forever without isa-debug-exit).

usage: test-hmp.py KEMU CASE GUEST
  stdio  -monitor stdio, -smp 2, a virtio-rng-pci and a QMP socket that
         watches the events HMP's commands cause: the banner and the
         (qemu) prompt, help, info status|version|cpus|registers|mtree|pci|
         qtree|chardev, xp and x against the guest image's bytes,
         stop/cont (STOP, RESUME), system_reset (RESET, the guest starts
         again), system_powerdown (POWERDOWN), an unknown command, quit
         (SHUTDOWN host-qmp-quit, exit status 0).
  mux    -nographic: C-a c switches from the guest's console to the
         monitor and back; info status; quit from the monitor exits 0.
Exit status: 0 pass, 1 fail (an assertion names what differed)."""
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp_wire import read_message  # noqa: E402
from hmp_dump import dump_values  # noqa: E402

TIMEOUT = 30
PROMPT = "(qemu) "


class Term:
    """kemu's stdin and stdout as a terminal: type lines, wait for text."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = ""
        self.pos = 0
        self.cond = threading.Condition()
        self.eof = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            data = self.proc.stdout.read1(65536)
            with self.cond:
                if not data:
                    self.eof = True
                else:
                    self.out += data.decode(errors="replace")
                self.cond.notify_all()
            if not data:
                return

    def expect(self, regex, timeout=TIMEOUT):
        """Wait for REGEX (. matches newlines) after the last match; return
        the match."""
        pat = re.compile(regex, re.S)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = pat.search(self.out, self.pos)
                if m:
                    self.pos = m.end()
                    return m
                left = deadline - time.monotonic()
                assert not self.eof, f"kemu exited before {regex!r}:\n{self.out[-2000:]}"
                assert left > 0, f"no {regex!r} within {timeout}s:\n{self.out[-2000:]}"
                self.cond.wait(left)

    def type(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def cmd(self, line):
        """Run one HMP command; return its output (CR LF made LF)."""
        self.type(line + "\n")
        m = self.expect(re.escape(line) + r"\r\n(.*?)" + re.escape(PROMPT))
        return m.group(1).replace("\r\n", "\n")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Events:
    """A negotiated QMP client that only collects events."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                assert time.monotonic() < deadline, "no QMP socket"
                time.sleep(0.05)     # polling for the socket kemu creates at start
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.recv()                  # greeting
        self.sock.sendall(b'{"execute": "qmp_capabilities"}')
        assert "return" in self.recv()

    def recv(self):
        msg, self.buf = read_message(self.sock, self.buf)
        return msg

    def event(self, name):
        msg = self.recv()
        assert msg.get("event") == name, f"expected event {name}, got {msg}"
        return msg


def image_bytes(elf, n):
    """The first N bytes of the ELF32 image's first PT_LOAD segment and its
    physical address (what the multiboot loader put in guest RAM)."""
    with open(elf, "rb") as f:
        data = f.read()
    phoff, = struct.unpack_from("<I", data, 28)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    for k in range(phnum):
        p_type, p_offset, _, p_paddr, p_filesz = struct.unpack_from(
            "<IIIII", data, phoff + k * phentsize)
        if p_type == 1 and p_filesz >= n:
            return p_paddr, list(data[p_offset:p_offset + n])
    raise AssertionError(f"{elf}: no loadable segment")


def wait_lines(serial, n):
    """Wait until the guest has printed its command line N times."""
    deadline = time.monotonic() + TIMEOUT
    while open(serial).read().count("cmdline=") < n:
        assert time.monotonic() < deadline, open(serial).read()
        time.sleep(0.05)             # polling a file kemu appends to


def case_stdio(kemu, guest, d):
    qmp = os.path.join(d, "qmp.sock")
    serial = os.path.join(d, "serial.txt")
    t = Term([kemu, "-accel", "tcg", "-smp", "2", "-m", "64", "-kernel", guest,
              "-append", "hmp-test", "-display", "none", "-serial", f"file:{serial}",
              "-device", "virtio-rng-pci,id=rng0", "-monitor", "stdio",
              "-qmp", f"unix:{qmp},server=on,wait=off"])
    try:
        t.expect(r"monitor - type 'help' for more information\r\n" + re.escape(PROMPT))
        ev = Events(qmp)
        wait_lines(serial, 1)       # the guest is in long mode and halted
        helptext = t.cmd("help")
        for c in ("cont", "help", "info", "quit", "stop", "system_powerdown",
                  "system_reset", "x /fmt", "xp /fmt"):
            assert re.search(rf"^{re.escape(c)}\b", helptext, re.M), (c, helptext)
        assert t.cmd("info version").startswith("0.1.0"), "info version"
        assert t.cmd("info status") == "VM status: running\n"

        cpus = t.cmd("info cpus")
        tids = [int(x) for x in re.findall(r"CPU #\d: thread_id=(\d+)", cpus)]
        assert re.match(r"\* CPU #0: thread_id=\d+\n  CPU #1: thread_id=\d+\n$", cpus), cpus
        tasks = {int(x) for x in os.listdir(f"/proc/{t.proc.pid}/task")}
        assert len(set(tids)) == 2 and set(tids) <= tasks, (tids, tasks)

        regs = t.cmd("info registers")
        cpu0, cpu1 = regs.split("CPU#1\n")
        # CPU 0 runs the guest in long mode; CPU 1 waits for INIT/SIPI at reset.
        assert cpu0.startswith("CPU#0\n") and "RIP=" in cpu0, regs
        efer = int(re.search(r"EFER=([0-9a-f]+)", cpu0).group(1), 16)
        assert efer & (1 << 10), f"CPU 0 is in long mode (EFER.LMA): {regs}"
        assert "EIP=0000fff0" in cpu1 and "CS =f000 ffff0000" in cpu1, regs

        mtree = t.cmd("info mtree")
        assert re.search(r"^  0000000000000000-0000000003ffffff: ram$", mtree, re.M), mtree
        assert re.search(r"^  00000000000003f8-00000000000003ff: ", mtree, re.M), mtree
        pci = t.cmd("info pci")
        # The host bridge and the rng (its BARs stay unmapped: no firmware
        # or OS here assigns them).
        assert re.search(r"device   0, function 0:\n.*PCI device 1b36:0008", pci), pci
        assert re.search(r"device   1, function 0:\n.*PCI device 1af4:1044", pci), pci
        assert re.search(r'dev: [a-z-]+, id "rng0"', t.cmd("info qtree"))
        assert f"serial0: filename=file:{serial}" in t.cmd("info chardev")

        addr, want = image_bytes(guest, 16)
        xp = dump_values(t.cmd(f"xp /16xb {addr:#x}"))
        assert xp == want, f"xp {addr:#x}: {xp} != the image's {want}"
        x = dump_values(t.cmd(f"x /4xw {addr:#x}"))     # identity-mapped in long64
        assert x == list(struct.unpack("<4I", bytes(want))), (x, want)
        assert "Cannot access memory" in t.cmd("x /1xg 0xffff800000000000")

        assert t.cmd("stop") == ""
        ev.event("STOP")
        assert t.cmd("info status") == "VM status: paused\n"
        assert t.cmd("cont") == ""
        ev.event("RESUME")
        assert t.cmd("info status") == "VM status: running\n"
        assert t.cmd("system_reset") == ""
        assert ev.event("RESET")["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
        assert t.cmd("system_powerdown") == ""
        ev.event("POWERDOWN")
        assert "unknown command: 'frobnicate'" in t.cmd("frobnicate")

        wait_lines(serial, 2)       # the guest ran again after the reset

        t.type("quit\n")
        assert t.proc.wait(TIMEOUT) == 0
        assert ev.event("SHUTDOWN")["data"] == {"guest": False, "reason": "host-qmp-quit"}
    finally:
        t.close()
    return "banner, help, 8 info items, xp/x against the image, stop/cont/reset/" \
           "powerdown with their events, unknown command, quit exit 0"


def case_mux(kemu, guest, d):
    t = Term([kemu, "-accel", "tcg", "-m", "64", "-kernel", guest, "-append", "mux-test",
              "-nographic"])
    try:
        t.expect(r"long64: cmdline=.*mux-test")
        t.type("\x01c")
        t.expect(re.escape(PROMPT))
        assert t.cmd("info status") == "VM status: running\n"
        t.type("\x01c")              # back to the console: typing goes to the guest
        t.type("\x01h")
        t.expect(r"C-a c\s+switch between the console and the monitor")
        t.type("\x01c")
        t.expect(re.escape(PROMPT))
        t.type("quit\n")
        assert t.proc.wait(TIMEOUT) == 0
    finally:
        t.close()
    return "C-a c to the monitor and back, info status, quit exit 0"


def main():
    kemu, case, guest = sys.argv[1:4]
    with tempfile.TemporaryDirectory(prefix="kemu-hmp-") as d:
        what = {"stdio": case_stdio, "mux": case_mux}[case](kemu, guest, d)
    print(f"PASS {case}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
