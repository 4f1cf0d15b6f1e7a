"""A small kemu machine for tests: serial console on pipes plus a QMP client.

Copy this file next to your test (Python 3 standard library only):

    with Machine("build/kemu", ["-kernel", "vmlinuz", "-initrd", "initrd.img",
                                "-append", "console=ttyS0"]) as vm:
        vm.wait_for_console(r"login:|# ", timeout=120)
        vm.console_write("uname -r\\n")
        print(vm.qmp("query-status"))
        status = vm.shutdown()

kemu starts with "-display none -serial stdio" (the first serial port on
its stdin/stdout, which are pipes here) and, with qmp=True, a QMP server on
a unix socket in a private temporary directory. Two reader threads collect
what kemu sends: the console text, and QMP replies and events. Leaving the
"with" block, normally or by an exception, always kills kemu if it still
runs and removes the temporary directory.
"""
import codecs
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time


class QMPError(Exception):
    """A QMP command failed: kemu replied {"error": {"class", "desc"}}."""

    def __init__(self, cls, desc):
        super().__init__(f"{cls}: {desc}")
        self.cls = cls
        self.desc = desc


class Machine:
    """kemu BINARY with ARGS; qmp=False starts it without a QMP socket.

    Attributes: console (all serial output so far, str), events (every QMP
    event so far, as dicts with "event", "data", "timestamp"), stderr
    (kemu's standard error so far), returncode (None while running).
    """

    def __init__(self, binary, args, qmp=True, connect_timeout=30):
        self.binary = binary
        self.args = list(args)
        self.use_qmp = qmp
        self.connect_timeout = connect_timeout
        self.console = ""
        self.stderr = ""
        self.events = []
        self.returncode = None
        self._pos = 0                  # console offset wait_for_console resumes at
        self._taken = set()            # indexes of events wait_event returned
        self._replies = {}             # QMP id -> reply
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._eof = {"console": False, "qmp": not qmp}
        self._threads = []
        self._proc = None
        self._sock = None
        self._dir = None

    # -- lifetime ---------------------------------------------------------

    def __enter__(self):
        try:
            self.launch()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def launch(self):
        """Start kemu, then connect and negotiate QMP (qmp=True)."""
        self._dir = tempfile.mkdtemp(prefix="kemu-machine-")
        argv = [self.binary, "-display", "none", "-serial", "stdio"] + self.args
        path = os.path.join(self._dir, "qmp.sock")
        if self.use_qmp:
            argv += ["-qmp", f"unix:{path},server=on,wait=off"]
        self.argv = argv
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
        self._start(self._read_console, self._proc.stdout)
        self._start(self._read_stderr, self._proc.stderr)
        if self.use_qmp:
            self._connect(path)

    def _start(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _connect(self, path):
        """Connect to kemu's QMP socket, read the greeting, negotiate."""
        deadline = time.monotonic() + self.connect_timeout
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    sock.close()
                    raise RuntimeError(self._why("the QMP socket never appeared"))
                # kemu creates the socket during start-up: poll for it.
                time.sleep(0.02)
        self._sock = sock
        f = sock.makefile("rb")
        sock.settimeout(self.connect_timeout)
        greeting = json.loads(f.readline())
        sock.settimeout(None)    # the reader thread blocks until kemu's EOF
        if "QMP" not in greeting:
            raise RuntimeError(f"not a QMP greeting: {greeting}")
        self.greeting = greeting
        self._start(self._read_qmp, f)
        self.qmp("qmp_capabilities")

    def shutdown(self, timeout=60):
        """Quit kemu through QMP (or close its stdin without QMP); wait for it
        to exit and for the readers to drain; return its exit status."""
        if self._proc.poll() is None:
            if self.use_qmp:
                try:
                    self.qmp("quit")
                except (EOFError, OSError):
                    pass    # kemu closed the socket on its way out
            else:
                self._proc.stdin.close()
        self.returncode = self._proc.wait(timeout=timeout)
        # The readers end at EOF: every event kemu sent is in self.events now.
        for t in self._threads:
            t.join(timeout)
        return self.returncode

    def close(self):
        """Kill kemu if it still runs, close pipes and socket, remove the
        temporary directory. Safe to call more than once."""
        if self._proc:
            if self._proc.poll() is None:
                self._proc.kill()
            self.returncode = self._proc.wait()
            for f in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
                try:
                    f.close()
                except OSError:
                    pass
        if self._sock:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)    # wakes the reader
            except OSError:
                pass
            self._sock.close()
        for t in self._threads:
            t.join(5)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # -- readers (threads) ------------------------------------------------

    def _read_console(self, f):
        dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            for data in iter(lambda: os.read(f.fileno(), 65536), b""):
                with self._cond:
                    self.console += dec.decode(data)
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass    # the pipe was closed under us
        finally:
            with self._cond:
                self._eof["console"] = True
                self._cond.notify_all()

    def _read_stderr(self, f):
        for line in f:
            self.stderr += line.decode(errors="replace")

    def _read_qmp(self, f):
        try:
            for line in f:
                msg = json.loads(line)
                with self._cond:
                    if "event" in msg:
                        self.events.append(msg)
                    else:
                        self._replies[msg.get("id")] = msg
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass    # closed under us, or garbage: treated as end of stream
        with self._cond:
            self._eof["qmp"] = True
            self._cond.notify_all()

    def _wait(self, found, stream, timeout, what):
        """Wait until found() is not None (called with the lock held)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                r = found()
                if r is not None:
                    return r
                left = deadline - time.monotonic()
                if self._eof[stream]:
                    raise EOFError(self._why(f"{what}: kemu closed its {stream}"))
                if left <= 0:
                    raise TimeoutError(self._why(f"{what}: timed out after {timeout}s"))
                self._cond.wait(left)

    def _why(self, what):
        try:
            # A closed stream usually means kemu is on its way out.
            status = self._proc.wait(timeout=2)
            status = f"signal {-status}" if status < 0 else f"exit status {status}"
        except subprocess.TimeoutExpired:
            status = "still running"
        return (f"{what}\n--- command: {' '.join(self.argv)}\n--- kemu: {status}"
                f"\n--- stderr:\n{self.stderr[-2000:]}"
                f"\n--- console (tail):\n{self.console[-2000:]}")

    # -- console ----------------------------------------------------------

    def wait_for_console(self, regex, timeout=60):
        """Wait for REGEX (str or compiled) in console output not yet matched;
        return the re.Match. Later calls search after the end of this match.
        Raises TimeoutError, or EOFError if kemu exits first."""
        pat = re.compile(regex)

        def found():
            m = pat.search(self.console, self._pos)
            if m:
                self._pos = m.end()
            return m
        return self._wait(found, "console", timeout, f"console {pat.pattern!r}")

    def console_write(self, text):
        """Type TEXT on the serial console (a newline ends a shell command)."""
        self._proc.stdin.write(text.encode())
        self._proc.stdin.flush()

    # -- QMP --------------------------------------------------------------

    def qmp(self, cmd, timeout=60, **args):
        """Run QMP command CMD; return its "return" value or raise QMPError.
        Underscores in argument names become dashes (command_line= sends
        "command-line"), as QMP argument names use dashes."""
        msg = {"execute": cmd, "id": next(self._ids)}
        if args:
            msg["arguments"] = {k.replace("_", "-"): v for k, v in args.items()}
        self._sock.sendall(json.dumps(msg).encode())
        reply = self._wait(lambda: self._replies.pop(msg["id"], None), "qmp", timeout,
                           f"QMP {cmd}")
        if "error" in reply:
            raise QMPError(reply["error"]["class"], reply["error"]["desc"])
        return reply["return"]

    def wait_event(self, name, timeout=60):
        """Return the oldest event NAME not returned before, waiting for it."""
        def found():
            for i, e in enumerate(self.events):
                if e["event"] == name and i not in self._taken:
                    self._taken.add(i)
                    return e
            return None
        try:
            return self._wait(found, "qmp", timeout, f"event {name}")
        except EOFError:
            # Nothing more can come: report what did arrive.
            raise EOFError(self._why(f"event {name} never came (got "
                                     f"{[e['event'] for e in self.events]})")) from None
