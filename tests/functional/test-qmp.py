#!/usr/bin/env python3
"""QMP end to end: kemu runs a guest that halts forever (-accel tcg) with a
-qmp unix socket; negotiate, query-status, stop/cont with STOP/RESUME,
system_reset with RESET, quit with SHUTDOWN and exit status 0.
Usage: test-qmp.py KEMU GUEST_ELF"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

TIMEOUT = 30


class Qmp:
    def __init__(self, path, deadline):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                # Polling for the socket to appear: kemu creates it at start.
                time.sleep(0.05)
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.events = []

    def recv(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name, "id": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode())
        while True:
            r = self.recv()
            if "event" in r:
                self.events.append(r)
                continue
            assert r.get("id") == name, r
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
            if "event" in r:
                self.events.append(r)


def main():
    kemu, guest = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "qmp.sock")
        pidfile = os.path.join(d, "kemu.pid")
        p = subprocess.Popen([kemu, "-accel", "tcg", "-kernel", guest, "-display", "none",
                              "-serial", "null", "-name", "qmp-test", "-pidfile", pidfile,
                              "-qmp", "unix:%s,server=on,wait=off" % path],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            q = Qmp(path, time.monotonic() + TIMEOUT)
            greeting = q.recv()
            assert greeting["QMP"]["version"]["package"] == "kemu-0.1.0", greeting
            assert open(pidfile).read().strip() == str(p.pid)
            assert q.cmd("qmp_capabilities") == {}
            st = q.cmd("query-status")
            assert st["status"] == "running" and st["running"] is True, st
            assert q.cmd("query-name") == {"name": "qmp-test"}
            assert q.cmd("query-kvm")["enabled"] is False
            cpus = q.cmd("query-cpus-fast")
            assert len(cpus) == 1 and cpus[0]["target"] == "x86_64", cpus
            q.cmd("stop")
            q.event("STOP")
            assert q.cmd("query-status")["status"] == "paused"
            q.cmd("cont")
            q.event("RESUME")
            assert q.cmd("query-status")["running"] is True
            q.cmd("system_reset")
            ev = q.event("RESET")
            assert ev["data"] == {"guest": False, "reason": "host-qmp-system-reset"}, ev
            out = q.cmd("human-monitor-command", **{"command-line": "info status"})
            assert out.startswith("VM status: running"), out
            q.cmd("quit")
            ev = q.event("SHUTDOWN")
            assert ev["data"] == {"guest": False, "reason": "host-qmp-quit"}, ev
            assert p.wait(TIMEOUT) == 0
            assert not os.path.exists(pidfile)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            err = p.stderr.read().decode(errors="replace")
            if err.strip():
                sys.stderr.write(err)
    print("ok")


if __name__ == "__main__":
    main()
