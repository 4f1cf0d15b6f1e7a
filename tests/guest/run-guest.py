#!/usr/bin/env python3
"""Run kemu (or QEMU) on a test guest and check what it did.

usage: run-guest.py --kemu PATH [--timeout S] [--status N|nonzero]
                    [--expect-stdout REGEX...] [--expect-stderr REGEX...]
                    [--stderr-one-line PREFIX] [--requires-kvm]
                    -- EMULATOR ARGS...

The emulator runs with stdin from /dev/null; its stdout and stderr are
collected as they arrive. It must exit within the timeout (else it is
killed and the test fails showing what it printed), with the expected
status, and its output must match every regex (Python re, MULTILINE).
--stderr-one-line PREFIX asserts stderr is exactly one line starting
with PREFIX (for error paths). Exit status: 0 pass, 1 fail, 77 skip --
only when the run needs /dev/kvm ("-accel kvm", "-enable-kvm" or
--requires-kvm) and /dev/kvm cannot be opened.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import threading
import time

SKIP = 77
SHOW_TAIL = 4000        # characters of each stream shown on failure


def needs_kvm(args, forced):
    if forced or '-enable-kvm' in args:
        return True
    for i, a in enumerate(args):
        if a in ('-accel', '--accel') and i + 1 < len(args):
            if args[i + 1].split(',')[0] == 'kvm':
                return True
        if a in ('-machine', '-M') and i + 1 < len(args):
            if re.search(r'(^|,)accel=kvm($|,|:)', args[i + 1]):
                return True
    return False


def kvm_openable():
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return str(e)
    os.close(fd)
    return None


def pump(stream, chunks):
    """Read @stream to EOF into @chunks (runs in its own thread)."""
    while True:
        data = stream.read1(65536)
        if not data:
            break
        chunks.append(data)


def run(cmd, timeout):
    """Run @cmd; return (status or None on timeout, stdout, stderr, secs)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = [], []
    readers = [threading.Thread(target=pump, args=(proc.stdout, out)),
               threading.Thread(target=pump, args=(proc.stderr, err))]
    for t in readers:
        t.daemon = True
        t.start()
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        status = None
    # The pipes close when the process is gone; bound the wait anyway in
    # case a child process inherited them.
    for t in readers:
        t.join(timeout=2)
    secs = time.monotonic() - start
    decode = lambda chunks: b''.join(chunks).decode('utf-8', 'replace')
    return status, decode(out), decode(err), secs


def show(name, text):
    if len(text) > SHOW_TAIL:
        text = '[... %d characters cut ...]\n' % (len(text) - SHOW_TAIL) + text[-SHOW_TAIL:]
    print('---- %s (%d lines) ----' % (name, len(text.splitlines())))
    print(text if text.endswith('\n') or not text else text + '\n', end='')
    print('---- end of %s ----' % name)


def status_ok(want, got):
    if want is None:
        return True
    if want == 'nonzero':
        return got != 0
    return got == int(want, 0)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--kemu', required=True, help='emulator binary (kemu or qemu-system-x86_64)')
    p.add_argument('--timeout', type=float, default=30.0, help='seconds before the run is killed')
    p.add_argument('--status', help='expected exit status: a number or "nonzero"')
    p.add_argument('--expect-stdout', nargs='+', action='extend', default=[], metavar='REGEX')
    p.add_argument('--expect-stderr', nargs='+', action='extend', default=[], metavar='REGEX')
    p.add_argument('--stderr-one-line', metavar='PREFIX',
                   help='stderr must be exactly one line starting with PREFIX')
    p.add_argument('--requires-kvm', action='store_true')
    p.add_argument('args', nargs=argparse.REMAINDER, help='-- then the emulator arguments')
    opts = p.parse_args()

    args = opts.args[1:] if opts.args[:1] == ['--'] else opts.args
    if opts.status not in (None, 'nonzero'):
        try:
            int(opts.status, 0)
        except ValueError:
            p.error('--status wants a number or "nonzero"')

    if needs_kvm(args, opts.requires_kvm):
        why = kvm_openable()
        if why:
            print('SKIP: /dev/kvm not available (%s)' % why)
            print('SKIP: this test needs KVM; it was NOT run', file=sys.stderr)
            return SKIP

    cmd = [opts.kemu] + args
    print('run: ' + shlex.join(cmd))
    status, out, err, secs = run(cmd, opts.timeout)

    problems = []
    if status is None:
        problems.append('timeout: still running after %gs, killed' % opts.timeout)
    elif not status_ok(opts.status, status):
        problems.append('exit status: want %s, got %d' % (opts.status, status))
    for rx in opts.expect_stdout:
        if not re.search(rx, out, re.MULTILINE):
            problems.append('stdout: no match for /%s/' % rx)
    for rx in opts.expect_stderr:
        if not re.search(rx, err, re.MULTILINE):
            problems.append('stderr: no match for /%s/' % rx)
    if opts.stderr_one_line is not None:
        lines = err.splitlines()
        if len(lines) != 1:
            problems.append('stderr: want exactly 1 line, got %d' % len(lines))
        elif not lines[0].startswith(opts.stderr_one_line):
            problems.append('stderr: line does not start with %r: %r'
                            % (opts.stderr_one_line, lines[0]))

    if problems:
        print('FAIL (%.2fs)' % secs)
        for prob in problems:
            print('  - ' + prob)
        show('stdout', out)
        show('stderr', err)
        return 1
    print('PASS (%.2fs, status %s, %d stdout and %d stderr patterns)'
          % (secs, status, len(opts.expect_stdout), len(opts.expect_stderr)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
