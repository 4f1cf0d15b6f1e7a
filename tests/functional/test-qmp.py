#!/usr/bin/env python3
"""QMP end to end, every command and event kemu implements (docs/qmp.md),
and -daemonize.

usage: test-qmp.py KEMU CASE GUEST
  GUEST is tests/guest/long64.elf (halts forever without isa-debug-exit)
  for the first cases and the guest kit directory for the last two.

Cases:
  commands        -smp 2 -name: negotiation (and the error before it),
                  every query with real values, error classes, stop/cont
                  with STOP/RESUME and the run state, system_reset with
                  RESET, system_powerdown with POWERDOWN, HMP over QMP, quit
                  with SHUTDOWN host-qmp-quit, exit 0, pidfile removed.
  start-paused    -S: prelaunch and not running; cont gives RESUME and
                  running; the guest then runs (its first serial line).
  daemonize       -daemonize returns promptly with status 0; the pidfile
                  holds a live process in its own session; QMP works; quit
                  ends that process with status 0. A failing start-up
                  exits 1 with the child's message; -nographic and stdio
                  back ends are refused with one line.
  reset-midboot   (kit) system_reset while Linux boots (after its
                  "Linux version" line): RESET host-qmp-system-reset, a
                  full boot to KEMU-GUEST-READY, guest power-off gives
                  SHUTDOWN guest-shutdown and exit status 0.
  daemonize-kit   (kit) a daemonized kemu whose guest powers off exits
                  with status 0 and removes its pidfile.
Exit status: 0 pass, 1 fail (an assertion names what differed).
"""
import base64
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kemu_machine import Machine  # noqa: E402
from qmp_wire import read_message  # noqa: E402

TIMEOUT = 30
BOOT_TIMEOUT = 240
KIT_APPEND = ("console=ttyS0 nokaslr mitigations=off tsc=reliable "
              "no_timer_check cryptomgr.notests panic=-1")
COMMANDS = {"qmp_capabilities", "query-version", "query-commands", "query-status",
            "query-name", "query-kvm", "query-cpus-fast", "query-chardev", "stop", "cont",
            "system_reset", "system_powerdown", "quit", "human-monitor-command"}


class Qmp:
    """A bare QMP client: no automatic negotiation, errors returned as is."""

    def __init__(self, path, deadline, proc=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if (proc and proc.poll() is not None) or time.monotonic() > deadline:
                    raise
                # Polling for the socket to appear: kemu creates it at start.
                time.sleep(0.05)
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.events = []

    def recv(self):
        """The next message; EOFError when kemu closed the connection."""
        msg, self.buf = read_message(self.sock, self.buf)
        return msg

    def reply(self, name, **args):
        """Send command NAME; return its whole reply (events are kept)."""
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
            return r

    def cmd(self, name, **args):
        r = self.reply(name, **args)
        assert "return" in r, r
        return r["return"]

    def error(self, name, **args):
        """Run a command that must fail; return its error class."""
        r = self.reply(name, **args)
        assert "error" in r and r["error"]["desc"], r
        return r["error"]["class"]

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

    def read_to_eof(self):
        """Every event until kemu closes the connection (it exits)."""
        try:
            while True:
                r = self.recv()
                if "event" in r:
                    self.events.append(r)
        except EOFError:
            return self.events


def long64_kemu(kemu, guest, d, extra):
    """Start kemu on the halting guest with a QMP socket in D."""
    path = os.path.join(d, "qmp.sock")
    p = subprocess.Popen([kemu, "-accel", "tcg", "-kernel", guest, "-display", "none",
                          "-qmp", "unix:%s,server=on,wait=off" % path] + extra,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p, Qmp(path, time.monotonic() + TIMEOUT, p)


def finish(p):
    if p.poll() is None:
        p.kill()
        p.wait()
    err = p.stderr.read().decode(errors="replace")
    if err.strip():
        sys.stderr.write(err)


def case_commands(kemu, guest):
    with tempfile.TemporaryDirectory() as d:
        pidfile = os.path.join(d, "kemu.pid")
        p, q = long64_kemu(kemu, guest, d, ["-smp", "2", "-serial", "null",
                                            "-name", "qmp-test", "-pidfile", pidfile])
        try:
            greeting = q.recv()
            assert greeting["QMP"]["version"]["package"] == "kemu-0.1.0", greeting
            assert greeting["QMP"]["capabilities"] == ["oob"], greeting
            assert open(pidfile).read().strip() == str(p.pid)
            assert q.error("query-status") == "CommandNotFound"
            assert q.cmd("qmp_capabilities") == {}
            assert q.error("qmp_capabilities") == "CommandNotFound"
            assert q.error("no-such-command") == "CommandNotFound"
            assert q.error("query-status", bogus=1) == "GenericError"
            assert q.error("human-monitor-command") == "GenericError"
            version = q.cmd("query-version")
            assert version == {"qemu": {"major": 0, "minor": 1, "micro": 0},
                               "package": "kemu-0.1.0"}, version
            names = {c["name"] for c in q.cmd("query-commands")}
            # Other commands may come (query-block); these are the ones tested here.
            assert COMMANDS <= names, COMMANDS - names
            st = q.cmd("query-status")
            assert st == {"status": "running", "running": True, "singlestep": False}, st
            assert q.cmd("query-name") == {"name": "qmp-test"}
            kvm = q.cmd("query-kvm")
            assert kvm["enabled"] is False and kvm["present"] == os.path.exists("/dev/kvm"), kvm
            cpus = q.cmd("query-cpus-fast")
            assert [c["cpu-index"] for c in cpus] == [0, 1], cpus
            assert all(c["target"] == "x86_64" for c in cpus), cpus
            # thread-id is the host thread that runs the vCPU.
            threads = {int(t) for t in os.listdir(f"/proc/{p.pid}/task")}
            assert {c["thread-id"] for c in cpus} <= threads and \
                len({c["thread-id"] for c in cpus}) == 2, (cpus, threads)
            chardevs = {c["label"]: c["filename"] for c in q.cmd("query-chardev")}
            assert chardevs.get("serial0") == "null", chardevs
            assert chardevs.get("compat_monitor0", "").startswith("unix:" + d), chardevs
            assert q.cmd("stop") == {}
            ev = q.event("STOP")
            assert "data" not in ev, ev
            st = q.cmd("query-status")
            assert st["status"] == "paused" and st["running"] is False, st
            out = q.cmd("human-monitor-command", **{"command-line": "info status"})
            assert out.startswith("VM status: paused"), out
            assert q.cmd("cont") == {}
            q.event("RESUME")
            st = q.cmd("query-status")
            assert st["status"] == "running" and st["running"] is True, st
            q.cmd("system_reset")
            ev = q.event("RESET")
            assert ev["data"] == {"guest": False, "reason": "host-qmp-system-reset"}, ev
            assert set(ev["timestamp"]) == {"seconds", "microseconds"}, ev
            assert abs(ev["timestamp"]["seconds"] - time.time()) < 60, ev
            assert q.cmd("system_powerdown") == {}
            ev = q.event("POWERDOWN")
            assert "data" not in ev, ev
            out = q.cmd("human-monitor-command", **{"command-line": "info status"})
            assert out.startswith("VM status: running"), out
            assert q.cmd("quit") == {}
            events = q.read_to_eof()
            shutdowns = [e for e in events if e["event"] == "SHUTDOWN"]
            assert [e["data"] for e in shutdowns] == [{"guest": False,
                                                       "reason": "host-qmp-quit"}], events
            assert p.wait(TIMEOUT) == 0
            assert not os.path.exists(pidfile)
        finally:
            finish(p)
    return "every query answered; stop/cont/system_reset/system_powerdown/quit and " \
           "their events; error classes; exit 0"


def case_start_paused(kemu, guest):
    with Machine(kemu, ["-accel", "tcg", "-S", "-kernel", guest]) as vm:
        st = vm.qmp("query-status")
        assert st == {"status": "prelaunch", "running": False, "singlestep": False}, st
        assert vm.console == "", f"the guest ran before cont: {vm.console!r}"
        assert vm.qmp("cont") == {}
        vm.wait_event("RESUME", timeout=TIMEOUT)
        st = vm.qmp("query-status")
        assert st["status"] == "running" and st["running"] is True, st
        # The guest prints its first line as soon as it runs.
        vm.wait_for_console(r"long64: hello from long mode", timeout=TIMEOUT)
        assert vm.shutdown(timeout=TIMEOUT) == 0
    return "-S gave prelaunch and no guest output; cont gave RESUME, running, guest output"


def become_subreaper():
    """Make this process adopt its orphaned descendants, so that it can
    collect a daemonized kemu's exit status (Linux PR_SET_CHILD_SUBREAPER)."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(36, 1, 0, 0, 0) == 0, os.strerror(ctypes.get_errno())


def wait_daemon(pid, timeout=TIMEOUT):
    """The exit status of the adopted daemon PID (killed after TIMEOUT s)."""
    def too_slow(*_):
        os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"daemon {pid} did not exit within {timeout}s")
    signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(timeout)
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        signal.alarm(0)
    return os.waitstatus_to_exitcode(status)


def daemonize(argv):
    """Run a -daemonize command; return (status, stderr, seconds)."""
    t0 = time.monotonic()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT)
    return r.returncode, r.stderr.decode(errors="replace"), time.monotonic() - t0


def case_daemonize(kemu, guest):
    become_subreaper()
    with tempfile.TemporaryDirectory() as d:
        pidfile, path = os.path.join(d, "kemu.pid"), os.path.join(d, "qmp.sock")
        status, err, secs = daemonize([kemu, "-daemonize", "-pidfile", pidfile,
                                       "-qmp", "unix:%s,server=on,wait=off" % path,
                                       "-display", "none", "-accel", "tcg", "-kernel", guest])
        assert status == 0 and err == "", (status, err)
        pid = int(open(pidfile).read())
        try:
            # The parent returned after the daemon had set up: socket and pid exist.
            assert os.path.exists(path)
            # State, then parent: the launching kemu is gone, we adopted the daemon.
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            assert stat[0] != "Z" and int(stat[1]) == os.getpid(), stat
            assert os.getsid(pid) == pid, "the daemon is not in a session of its own"
            fds = {os.readlink(f"/proc/{pid}/fd/{n}") for n in (0, 1, 2)}
            assert fds == {"/dev/null"}, fds
            q = Qmp(path, time.monotonic() + TIMEOUT)
            q.recv()
            q.cmd("qmp_capabilities")
            assert q.cmd("query-status")["status"] == "running"
            q.cmd("quit")
            ev = [e for e in q.read_to_eof() if e["event"] == "SHUTDOWN"]
            assert ev and ev[0]["data"]["reason"] == "host-qmp-quit", ev
            assert wait_daemon(pid) == 0
            assert not os.path.exists(pidfile)
        finally:
            if os.path.exists(f"/proc/{pid}"):
                os.kill(pid, signal.SIGKILL)
        # A start-up failure in the child is the command's failure.
        bad = os.path.join(d, "missing.elf")
        status, err, _ = daemonize([kemu, "-daemonize", "-display", "none", "-kernel", bad])
        assert status == 1 and bad in err and err.startswith("kemu: "), (status, err)
    refused = {"-nographic": "kemu: -nographic cannot be used with -daemonize\n"}
    for opt, spec in (("-serial", "stdio"), ("-serial", "mon:stdio"), ("-monitor", "stdio"),
                      ("-qmp", "stdio"), ("-chardev", "stdio,id=c0")):
        refused[f"{opt} {spec}"] = f"kemu: {opt} {spec}: cannot use stdio with -daemonize\n"
    for args, want in refused.items():
        status, err, _ = daemonize([kemu, "-daemonize", "-display", "none"] + args.split())
        assert status == 1 and err == want, (args, status, err)
    return f"daemon up and parent back in {secs:.2f}s; quit ended it with 0; " \
           f"{len(refused)} stdio/-nographic combinations refused"


def kit_args(kit, run):
    return ["-accel", "tcg", "-m", "512", "-kernel", os.path.join(kit, "vmlinuz"),
            "-initrd", os.path.join(kit, "initrd.img"),
            "-append", KIT_APPEND + " kemu.run=" + base64.b64encode(run.encode()).decode()]


def case_reset_midboot(kemu, guest):
    with Machine(kemu, kit_args(guest, "true")) as vm:
        vm.wait_for_console(r"Linux version", timeout=BOOT_TIMEOUT)
        assert "KEMU-GUEST-READY" not in vm.console
        assert vm.qmp("system_reset") == {}
        ev = vm.wait_event("RESET", timeout=TIMEOUT)
        assert ev["data"] == {"guest": False, "reason": "host-qmp-system-reset"}, ev
        # The second boot prints the banner again and goes all the way.
        vm.wait_for_console(r"Linux version", timeout=BOOT_TIMEOUT)
        vm.wait_for_console(r"KEMU-GUEST-READY", timeout=BOOT_TIMEOUT)
        vm.wait_for_console(r"KEMU-RUN-EXIT=0", timeout=BOOT_TIMEOUT)
        ev = vm.wait_event("SHUTDOWN", timeout=TIMEOUT)
        assert ev["data"] == {"guest": True, "reason": "guest-shutdown"}, ev
        status = vm.shutdown(timeout=TIMEOUT)
        assert status == 0, f"exit status {status}\n{vm.stderr}"
        resets = [e for e in vm.events if e["event"] == "RESET"]
        assert len(resets) == 1, resets
    return "reset after 'Linux version', full boot, guest power-off: SHUTDOWN " \
           "guest-shutdown, exit 0"


def case_daemonize_kit(kemu, kit):
    become_subreaper()
    with tempfile.TemporaryDirectory() as d:
        pidfile, serial = os.path.join(d, "kemu.pid"), os.path.join(d, "serial.txt")
        status, err, secs = daemonize([kemu, "-daemonize", "-pidfile", pidfile, "-display",
                                       "none", "-serial", "file:" + serial]
                                      + kit_args(kit, "echo daemon-guest-$((6*7))"))
        assert status == 0 and err == "", (status, err)
        pid = int(open(pidfile).read())
        assert wait_daemon(pid, BOOT_TIMEOUT) == 0
        out = open(serial, "rb").read()
        assert b"daemon-guest-42" in out and b"KEMU-RUN-EXIT=0" in out, out[-2000:]
        assert not os.path.exists(pidfile)
    return f"parent back in {secs:.2f}s; the guest ran, powered off, the daemon exited 0"


CASES = {"commands": case_commands, "start-paused": case_start_paused,
         "daemonize": case_daemonize, "reset-midboot": case_reset_midboot,
         "daemonize-kit": case_daemonize_kit}


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in CASES:
        print(__doc__)
        return 1
    kemu, case, guest = sys.argv[1:]
    if case in ("reset-midboot", "daemonize-kit"):
        for f in ("vmlinuz", "initrd.img"):
            if not os.path.exists(os.path.join(guest, f)):
                print(f"FAIL: {guest}/{f} is missing: run scripts/guest-kit.py")
                return 1
    print(f"PASS {case}: {CASES[case](kemu, guest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
