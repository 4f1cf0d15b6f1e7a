#!/usr/bin/env python3
"""QMP compatibility with QEMU: one client, two emulators, one transcript.

The client below is what a new QEMU user writes: a unix socket, json, one
message per line. It boots the guest kit (its shell waits on the serial
console), negotiates, queries, sends bad requests, waits for the guest to
boot, stops, continues, resets, waits for the guest to come up again and
presses the power button (the kit's acpid powers the guest off); then, in
a second run, negotiates and quits.
Every step is written down normalised: timestamps become their shape,
version numbers, thread ids and QEMU-only devices are left out, error
descriptions become their type (the class is kept).

usage:
  qmp-compat.py KEMU KIT_DIR GOLDEN
      run the client against kemu and compare with GOLDEN (QEMU's
      transcript); when qemu-system-x86_64 is installed (or $QEMU names
      one), run it live against QEMU too and compare that with GOLDEN.
  qmp-compat.py --record QEMU KIT_DIR GOLDEN
      run the client against QEMU and write GOLDEN.

Differences from QEMU that kemu has on purpose or that are not yet fixed
are listed in KNOWN_DIFFERENCES with the value kemu must give; any other
difference fails. Exit status: 0 pass, 1 fail.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

TIMEOUT = 30            # seconds for one QMP reply or event
BOOT_TIMEOUT = 300      # seconds for the kit to boot under the interpreter
APPEND = ("console=ttyS0 quiet nokaslr mitigations=off tsc=reliable "
          "no_timer_check cryptomgr.notests panic=-1")
MARKER = "KEMU-GUEST-READY"

# The commands kemu implements (docs/qmp.md); query-commands must list them.
COMMANDS = ["cont", "human-monitor-command", "qmp_capabilities", "query-chardev",
            "query-commands", "query-cpus-fast", "query-kvm", "query-name",
            "query-status", "query-version", "quit", "stop", "system_powerdown",
            "system_reset"]

# (step, path in the normalised transcript) -> (what kemu gives, why).
KNOWN_DIFFERENCES = {}


def firmware_reset(e):
    """After a system_reset, QEMU's firmware (SeaBIOS) resets the machine
    once or twice more before it boots the kernel again; kemu loads the
    kernel directly. Those RESET events are not part of the transcript."""
    return e["event"] == "RESET" and e.get("data", {}).get("reason") == "guest-reset"


def shape(v):
    """The JSON type of V, recursively: {"a": 1} -> {"a": "int"}."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v]
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, str):
        return "str"
    return "null" if v is None else type(v).__name__


class Console:
    """The guest's serial console (the emulator's stdout), read by a thread."""

    def __init__(self, f):
        self.text = ""
        self.cond = threading.Condition()
        self.eof = False
        threading.Thread(target=self._read, args=(f,), daemon=True).start()

    def _read(self, f):
        for data in iter(lambda: os.read(f.fileno(), 65536), b""):
            with self.cond:
                self.text += data.decode(errors="replace")
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, needle, timeout, count=1):
        """Wait until NEEDLE was printed COUNT times in all."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.text.count(needle) < count:
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    raise RuntimeError(f"console: no {needle!r}; tail:\n{self.text[-2000:]}")
                self.cond.wait(left)


class Client:
    """QMP over a unix socket: send one JSON object, read lines back."""

    def __init__(self, path, proc):
        deadline = time.monotonic() + TIMEOUT
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the QMP socket never appeared")
                # The emulator creates the socket while it starts: poll.
                time.sleep(0.02)
        self.sock.settimeout(TIMEOUT)
        self.file = self.sock.makefile("rb")

    def read(self):
        """The next message, or None at end of stream."""
        line = self.file.readline()
        return json.loads(line) if line else None

    def send(self, raw):
        self.sock.sendall(raw if isinstance(raw, bytes) else json.dumps(raw).encode())


def norm_event(e):
    out = {"event": e["event"], "timestamp": shape(e.get("timestamp"))}
    if "data" in e:
        out["data"] = e["data"]
    return out


def norm_error(r):
    return {"error": {"class": r["error"]["class"], "desc": shape(r["error"]["desc"])}}


class Session:
    """One emulator run: the process, its console, a QMP client, the transcript."""

    def __init__(self, binary, kit, workdir):
        self.qmp_path = os.path.join(workdir, "qmp.sock")
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)     # a previous run's, if it left one
        self.argv = [binary, "-accel", "tcg", "-m", "512",
                     "-kernel", os.path.join(kit, "vmlinuz"),
                     "-initrd", os.path.join(kit, "initrd.img"), "-append", APPEND,
                     "-display", "none", "-serial", "stdio", "-name", "compat",
                     "-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.console = Console(self.proc.stdout)
        self.qmp = Client(self.qmp_path, self.proc)
        self.steps = []
        self.firmware_resets = 0

    def step(self, name, request, keep="value", events=()):
        """Send REQUEST; read until its reply and every event named in
        EVENTS came; record the reply normalised by KEEP ("value", "shape"
        or a function of the return value) and the events that arrived."""
        self.qmp.send(request)
        reply, got = None, []
        while reply is None or not set(events) <= {e["event"] for e in got}:
            msg = self.qmp.read()
            if msg is None:
                raise RuntimeError(f"{name}: QMP closed (reply {reply}, events {got})")
            if "event" in msg and msg["event"] not in events and firmware_reset(msg):
                self.firmware_resets += 1
            elif "event" in msg:
                got.append(msg)
            elif reply is None:
                reply = msg
            else:
                raise RuntimeError(f"{name}: a second reply {msg}")
        if "error" in reply:
            out = norm_error(reply)
        elif "return" in reply:
            ret = reply["return"]
            out = {"return": ret if keep == "value" else shape(ret) if keep == "shape"
                   else keep(ret)}
        else:
            raise RuntimeError(f"{name}: neither return nor error: {reply}")
        if "id" in reply:
            out["id"] = reply["id"]
        extra = set(reply) - {"return", "error", "id"}
        if extra:
            out["extra-members"] = sorted(extra)
        rec = {"step": name, "reply": out}
        if got:
            rec["events"] = [norm_event(e) for e in got]
        self.steps.append(rec)
        return reply

    def record(self, name, **what):
        self.steps.append({"step": name, **what})

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.qmp.sock.close()


def keep_kvm(r):
    # Whether /dev/kvm exists is a fact about the host, not the emulator.
    return {"enabled": r["enabled"], "present": shape(r["present"])}


def keep_cpus(cpus):
    # Thread ids are the host's; QEMU's qom-path numbers its own objects.
    return [dict(c, **{"thread-id": shape(c["thread-id"]), "qom-path": shape(c["qom-path"])})
            for c in cpus]


def keep_commands(cmds):
    names = {c["name"] for c in cmds}
    return [n for n in COMMANDS if n in names]


def run(binary, kit):
    """Run the client against BINARY; return the normalised transcript."""
    workdir = tempfile.mkdtemp(prefix="qmp-compat-")
    s = None
    try:
        s = Session(binary, kit, workdir)

        def keep_chardevs(chardevs):
            # QEMU adds default devices (parallel0, ...): keep the two we made.
            out = [dict(c, filename=c["filename"].replace(s.qmp_path, "QMP-SOCKET"))
                   for c in chardevs if c["label"] in ("serial0", "compat_monitor0")]
            return sorted(out, key=lambda c: c["label"])

        greeting = s.qmp.read()
        s.record("greeting", QMP={"version": shape(greeting["QMP"]["version"]),
                                  "capabilities": greeting["QMP"]["capabilities"]},
                 members=sorted(greeting))
        s.step("before-negotiation", {"execute": "query-status", "id": 1})
        s.step("qmp_capabilities", {"execute": "qmp_capabilities", "id": 2})
        s.step("negotiate-again", {"execute": "qmp_capabilities", "id": 3})
        s.step("query-version", {"execute": "query-version"}, keep="shape")
        s.step("query-commands", {"execute": "query-commands"}, keep=keep_commands)
        s.step("query-name", {"execute": "query-name"})
        s.step("query-status", {"execute": "query-status", "id": {"any": ["json", 1]}})
        s.step("query-kvm", {"execute": "query-kvm"}, keep=keep_kvm)
        s.step("query-cpus-fast", {"execute": "query-cpus-fast"}, keep=keep_cpus)
        s.step("query-chardev", {"execute": "query-chardev"}, keep=keep_chardevs)
        s.step("unknown-command", {"execute": "no-such-command", "id": "u"})
        s.step("not-an-object", b"[]")
        s.step("lacks-execute", {"arguments": {}})
        s.step("execute-not-a-string", {"execute": 42})
        s.step("unexpected-member", {"execute": "query-status", "foo": 1})
        s.step("unexpected-argument", {"execute": "query-status", "arguments": {"x": 1}})
        s.step("mistyped-argument", {"execute": "human-monitor-command",
                                     "arguments": {"command-line": 5}})
        s.step("missing-argument", {"execute": "human-monitor-command"})
        s.step("bad-json", b'{"execute": }')
        s.step("still-works", {"execute": "query-status", "id": "after-errors"})
        # Stop, reset and power down a booted guest: QEMU sometimes fails
        # to boot again after a reset in its firmware.
        s.console.wait_for(MARKER, BOOT_TIMEOUT)
        s.record("guest-booted", console=MARKER)
        s.step("stop", {"execute": "stop"}, events=["STOP"])
        s.step("query-status-paused", {"execute": "query-status"})
        s.step("hmp-info-status", {"execute": "human-monitor-command",
                                   "arguments": {"command-line": "info status"}})
        s.step("cont", {"execute": "cont"}, events=["RESUME"])
        s.step("query-status-running", {"execute": "query-status"})
        s.step("system_reset", {"execute": "system_reset"}, events=["RESET"])
        s.console.wait_for(MARKER, BOOT_TIMEOUT, count=2)
        s.record("guest-booted-again", console=MARKER)
        s.step("system_powerdown", {"execute": "system_powerdown"}, events=["POWERDOWN"])
        s.record("powered-off", after_powerdown=until_eof(s),
                 exit_status=s.proc.wait(BOOT_TIMEOUT))
        if s.firmware_resets:
            print(f"  {os.path.basename(binary)}: left out {s.firmware_resets} RESET "
                  "events of its firmware (guest-reset)")
        steps = s.steps
        s.close()
        # A second run: quit, and what comes before and after its reply.
        s = Session(binary, kit, workdir)
        s.qmp.read()
        s.step("qmp_capabilities-2", {"execute": "qmp_capabilities"})
        s.qmp.send({"execute": "quit", "id": "bye"})
        s.record("quit", messages=until_eof(s), exit_status=s.proc.wait(TIMEOUT))
        return steps + s.steps
    finally:
        if s:
            s.close()
        shutil.rmtree(workdir, ignore_errors=True)


def until_eof(s):
    """Every QMP message until the emulator closes the socket, normalised."""
    out = []
    while (msg := s.qmp.read()) is not None:
        out.append(norm_event(msg) if "event" in msg else msg)
    return out


def differences(want, got, path=""):
    """(path, want, got) for every place where two JSON values differ."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k in sorted(set(want) | set(got)):
            sub = f"{path}.{k}" if path else k
            out += differences(want.get(k, "<absent>"), got.get(k, "<absent>"), sub)
        return out
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        out = []
        for i, (w, g) in enumerate(zip(want, got)):
            out += differences(w, g, f"{path}[{i}]")
        return out
    return [] if want == got else [(path, want, got)]


def compare(golden, got, who, known):
    """Print every difference of GOT from GOLDEN; return how many are not
    in KNOWN (a dict (step, path) -> (value, why); empty for QEMU)."""
    bad = 0
    names = [s["step"] for s in golden]
    if names != [s["step"] for s in got]:
        print(f"FAIL {who}: steps {[s['step'] for s in got]} != {names}")
        return 1
    seen = set()
    for g, s in zip(golden, got):
        for path, want, have in differences(g, s):
            key = (g["step"], path)
            if key in known and known[key][0] == have:
                seen.add(key)
                print(f"  known difference {who} {key[0]} {path}: QEMU {json.dumps(want)}, "
                      f"{who} {json.dumps(have)} ({known[key][1]})")
                continue
            bad += 1
            print(f"FAIL {who}: step {g['step']}, {path}: QEMU gives {json.dumps(want)}, "
                  f"{who} gives {json.dumps(have)}")
    for key in set(known) - seen:
        print(f"  NOTE: known difference {key} is gone: remove it from KNOWN_DIFFERENCES")
    return bad


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--record":
        qemu, kit, golden = sys.argv[2:]
        steps = run(qemu, kit)
        with open(golden, "w") as f:
            json.dump(steps, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {golden}: {len(steps)} steps")
        return 0
    if len(sys.argv) != 4:
        print(__doc__)
        return 1
    kemu, kit, golden_path = sys.argv[1:]
    for f in ("vmlinuz", "initrd.img"):
        if not os.path.exists(os.path.join(kit, f)):
            print(f"FAIL: {kit}/{f} is missing: run scripts/guest-kit.py (make check does)")
            return 1
    with open(golden_path) as f:
        golden = json.load(f)
    failed = compare(golden, run(kemu, kit), "kemu", KNOWN_DIFFERENCES)
    qemu = os.environ.get("QEMU") or shutil.which("qemu-system-x86_64")
    if qemu:
        failed += compare(golden, run(qemu, kit), "qemu", {})
        live = "live QEMU matches the golden transcript too" if not failed else ""
    else:
        live = "SKIPPED the live QEMU run: qemu-system-x86_64 is not installed"
    if failed:
        print(f"FAIL: {failed} differences from {os.path.basename(golden_path)}")
        return 1
    print(f"PASS: {len(golden)} QMP steps match {os.path.basename(golden_path)}; {live}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
