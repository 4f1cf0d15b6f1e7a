#!/usr/bin/env python3
"""Several QMP clients at once, query-block and HMP x through the guest's
page tables, on the Linux guest kit.

Under -accel tcg: kemu has QMP on a unix socket, on TCP (port chosen by the
kernel) and on a -chardev socket with -mon mode=control, next to the test
harness's own QMP socket. Two clients on one socket negotiate on their own;
replies go to the asker only; STOP/RESUME reach every negotiated client; a
client leaving in the middle of a request ends only its session.
query-block reports the read-only -drive. HMP `x` at Linux's kernel text
(0xffffffff81000000, __START_KERNEL_map + 16 MiB under nokaslr) shows the
bytes `xp` shows at the physical start of "Kernel code" in /proc/iomem, and
an unmapped address prints "Cannot access memory". (Under -accel kvm the
same check runs on a purpose-built guest: test-hmp-x.py.)

usage: test-qmp-multi.py KEMU KIT_DIR   (kit: make kit)"""
import json
import os
import re
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kemu_machine import Machine  # noqa: E402
from qmp_wire import read_message  # noqa: E402
from hmp_dump import check_x_vs_xp  # noqa: E402

TIMEOUT = 60
KERNEL_TEXT = 0xffffffff81000000


class Client:
    """A raw QMP client that keeps the events it reads while waiting."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.events = []
        self.greeting = self.recv()
        assert "QMP" in self.greeting, self.greeting

    @classmethod
    def unix(cls, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        return cls(s)

    @classmethod
    def tcp(cls, port):
        return cls(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT))

    def recv(self):
        msg, self.buf = read_message(self.sock, self.buf)
        return msg

    def send_raw(self, data):
        self.sock.sendall(data)

    def reply(self, ident):
        """The next non-event message; it must carry id IDENT."""
        while True:
            r = self.recv()
            if "event" in r:
                self.events.append(r)
                continue
            assert r.get("id") == ident, f"expected a reply to {ident!r}, got {r}"
            return r

    def cmd(self, name, ident=None, **args):
        ident = ident or name
        msg = {"execute": name, "id": ident}
        if args:
            msg["arguments"] = args
        self.send_raw(json.dumps(msg).encode())
        r = self.reply(ident)
        assert "return" in r, r
        return r["return"]

    def event(self, name):
        for i, e in enumerate(self.events):
            if e["event"] == name:
                return self.events.pop(i)
        while True:
            r = self.recv()
            if r.get("event") == name:
                return r
            assert "event" in r, f"unexpected reply {r} while waiting for {name}"
            self.events.append(r)

    def close(self):
        self.sock.close()


def kernel_code_start(vm):
    """Physical address of _text, from the guest's /proc/iomem."""
    vm.console_write("grep 'Kernel code' /proc/iomem\n")
    m = vm.wait_for_console(r"\n\s*([0-9a-f]+)-[0-9a-f]+ : Kernel code", timeout=TIMEOUT)
    return int(m.group(1), 16)


def boot_args(kit, accel, extra):
    return ["-accel", accel, "-m", "512",
            "-kernel", os.path.join(kit, "vmlinuz"),
            "-initrd", os.path.join(kit, "initrd.img"),
            "-append", "console=ttyS0 quiet nokaslr pti=off tsc=reliable no_timer_check "
                       "cryptomgr.notests panic=-1"] + extra


def multi_client(vm, unix_path, chardev_path, img):
    # The TCP server's port, as the kernel chose it.
    tcp = [c for c in vm.qmp("query-chardev") if c["filename"].startswith("tcp:")]
    assert len(tcp) == 1, tcp
    port = int(re.search(r":(\d+),server=on", tcp[0]["filename"]).group(1))

    a, b = Client.unix(unix_path), Client.unix(unix_path)    # one socket, two at once
    c, d = Client.tcp(port), Client.unix(chardev_path)
    # Negotiation is per session: b's is not a's.
    a.cmd("qmp_capabilities")
    b.send_raw(b'{"execute": "query-status", "id": 1}')
    r = b.reply(1)
    assert r["error"]["class"] == "CommandNotFound", r
    for cl in (b, c, d):
        cl.cmd("qmp_capabilities")
    # Replies only to the asker: both ask with the same id at once.
    a.send_raw(b'{"execute": "query-name", "id": "same"}')
    b.send_raw(b'{"execute": "query-status", "id": "same"}')
    assert b.reply("same")["return"]["status"] == "running"
    assert a.reply("same")["return"] == {}
    # Events reach every negotiated session.
    a.cmd("stop")
    for cl in (a, b, c, d):
        cl.event("STOP")
    vm.wait_event("STOP", timeout=TIMEOUT)
    assert c.cmd("query-status")["status"] == "paused"
    d.cmd("cont")
    for cl in (a, b, c, d):
        cl.event("RESUME")
    vm.wait_event("RESUME", timeout=TIMEOUT)
    # Leaving in the middle of a request ends only that session.
    a.send_raw(b'{"execute": "query-sta')
    a.close()
    c.send_raw(b'{"execute": "sto')
    c.close()
    assert b.cmd("query-status")["status"] == "running"
    assert d.cmd("query-status")["status"] == "running"
    # A newcomer on the same socket starts afresh.
    e = Client.unix(unix_path)
    e.send_raw(b'{"execute": "query-version", "id": 2}')
    assert e.reply(2)["error"]["class"] == "CommandNotFound"
    e.cmd("qmp_capabilities")
    # query-block on the read-only -drive.
    blocks = {x["device"]: x for x in e.cmd("query-block")}
    disk = blocks["disk0"]
    ins = disk["inserted"]
    assert ins["file"] == img and ins["ro"] is True and ins["drv"] == "raw", disk
    assert ins["image"]["filename"] == img and ins["image"]["virtual-size"] == 1 << 20, disk
    assert disk["locked"] is False and disk["removable"] is False, disk
    assert "query-block" in [x["name"] for x in e.cmd("query-commands")]
    for cl in (b, d, e):
        cl.close()


def main():
    kemu, kit = sys.argv[1], sys.argv[2]
    if not os.path.exists(os.path.join(kit, "vmlinuz")):
        print(f"SKIP: no guest kit in {kit} (make kit)")
        return 77
    with tempfile.TemporaryDirectory(prefix="kemu-qmp-multi-") as tmp:
        unix_path = os.path.join(tmp, "qmp.sock")
        chardev_path = os.path.join(tmp, "qmpc.sock")
        img = os.path.join(tmp, "disk.img")
        with open(img, "wb") as f:
            f.truncate(1 << 20)
        extra = ["-qmp", f"unix:{unix_path},server=on,wait=off",
                 "-qmp", "tcp:127.0.0.1:0,server=on,wait=off",
                 "-chardev", f"socket,id=qmpc,path={chardev_path},server=on,wait=off",
                 "-mon", "chardev=qmpc,mode=control",
                 "-drive", f"file={img},format=raw,if=virtio,readonly=on,id=disk0"]
        with Machine(kemu, boot_args(kit, "tcg", extra)) as vm:
            vm.wait_for_console(r"KEMU-GUEST-READY", timeout=300)
            multi_client(vm, unix_path, chardev_path, img)
            phys = kernel_code_start(vm)
            # Identity would read physical 0xffffffff81000000, not RAM.
            check_x_vs_xp(vm, "tcg", KERNEL_TEXT, phys)
            assert vm.shutdown() == 0
    print(f"PASS: 4 QMP sessions at once (unix x2, tcp, -mon), per-session replies, "
          f"STOP/RESUME to all, mid-line disconnects, query-block; tcg: x {KERNEL_TEXT:#x} "
          f"== xp {phys:#x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
