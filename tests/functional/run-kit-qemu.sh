#!/bin/sh
# Boot the guest kit (scripts/guest-kit.py) under Debian's QEMU as a
# reference for kemu: the kernel reaches KEMU-GUEST-READY, runs a kemu.run
# command, reports its status and powers off; -smp 2 shows two CPUs; the
# interactive shell answers on the console. Prints the time from QEMU's
# start to the marker for every boot. Not a meson test: QEMU is the
# oracle here, and the lead's benchmarks call this too.
#
# usage: tests/functional/run-kit-qemu.sh [--repeat N] [ACCEL]   (default tcg)
#   --repeat N   after the checks, boot N more times (kemu.run=true) and
#                print the median time to the marker
# environment: QEMU (default qemu-system-x86_64), KIT (default
#   .cache/guest-kit), TIMEOUT per boot in seconds (default 120)
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
repeat=0
if [ "${1:-}" = "--repeat" ]; then
    repeat=${2:?--repeat needs a count}
    shift 2
fi
accel=${1:-tcg}
kit=${KIT:-$repo/.cache/guest-kit}

if [ -z "${KIT:-}" ]; then
    python3 "$repo/scripts/guest-kit.py" --quiet || exit 1
fi

exec python3 - "$accel" "$kit" "$repeat" "${QEMU:-qemu-system-x86_64}" \
    "${TIMEOUT:-120}" "$here/kit-init" <<'EOF'
import base64, hashlib, os, re, statistics, subprocess, sys, tempfile, threading, time

accel, kit, repeat, qemu, timeout, init_src = sys.argv[1:]
repeat, timeout = int(repeat), float(timeout)
CMDLINE = ('console=ttyS0 quiet nokaslr mitigations=off tsc=reliable '
           'no_timer_check cryptomgr.notests panic=-1')
MARK = b'KEMU-GUEST-READY'


def boot(name, run=None, smp=1, stdin_after_marker=None, extra=()):
    """Boot the kit; return (qemu status, output text, secs to marker)."""
    append = CMDLINE
    if run is not None:
        append += ' kemu.run=' + base64.b64encode(run.encode()).decode()
    cmd = [qemu, '-accel', accel, '-m', '512', '-smp', str(smp),
           '-kernel', os.path.join(kit, 'vmlinuz'),
           '-initrd', os.path.join(kit, 'initrd.img'),
           '-append', append, '-nographic', '-no-reboot'] + list(extra)
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = bytearray()
    marker = [None]

    def pump():
        while True:
            data = p.stdout.read1(65536)
            if not data:
                break
            out.extend(data)
            if marker[0] is None and MARK in out:
                marker[0] = time.monotonic() - start
                if stdin_after_marker is not None:
                    p.stdin.write(stdin_after_marker.encode())
                    p.stdin.flush()

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        status = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        status = None
    t.join(5)
    text = out.decode('utf-8', 'replace')
    print('--- %s: marker %s, exit %s after %.2f s' % (
        name, '%.2f s' % marker[0] if marker[0] else 'NOT SEEN',
        'TIMEOUT' if status is None else status, time.monotonic() - start))
    return status, text, marker[0]


failed = []


def check(name, expects, **kw):
    status, text, secs = boot(name, **kw)
    bad = [e for e in expects if not re.search(e, text, re.M)]
    if status != 0 or secs is None or bad:
        failed.append(name)
        print(text[-3000:])
        for e in bad:
            print('*** %s: no match for %r' % (name, e))
    return secs


with open(init_src, 'rb') as f:
    init_hash = hashlib.sha256(f.read()).hexdigest()
times = []
times.append(check('run sha256sum', [
    '^KEMU-GUEST-READY\r?$', '^%s  /init\r?$' % init_hash,
    '^KEMU-RUN-EXIT=0\r?$'], run='sha256sum /init'))
times.append(check('run with quotes and status', [
    '''^a  b 'c' "d"\r?$''', '^KEMU-RUN-EXIT=3\r?$'],
    run='''echo "a  b 'c'" '"d"'; exit 3'''))
times.append(check('smp 2', ['^2\r?$', '^KEMU-RUN-EXIT=0\r?$'],
                   run='grep -c ^processor /proc/cpuinfo', smp=2))
disk = tempfile.NamedTemporaryFile(prefix='kit-disk.', suffix='.img')
disk.truncate(4 << 20)
disk.flush()
times.append(check('virtio devices', [
    '^vda 8192\r?$', '^eth0 +lo\r?$', '^virtio_rng\\.0\r?$', '^KEMU-RUN-EXIT=0\r?$'],
    run='echo vda $(cat /sys/block/vda/size); ls /sys/class/net; '
        'cat /sys/class/misc/hw_random/rng_current',
    extra=['-drive', 'file=%s,if=virtio,format=raw' % disk.name,
           '-device', 'virtio-rng-pci', '-nic', 'user,model=virtio-net-pci']))
times.append(check('q35 ahci disk', ['^sda 8192\r?$', '^KEMU-RUN-EXIT=0\r?$'],
    run='for i in $(seq 100); do [ -e /sys/block/sda ] && break; '
        'sleep 0.1; done; echo sda $(cat /sys/block/sda/size)',
    extra=['-M', 'q35', '-drive', 'file=%s,if=ide,format=raw' % disk.name,
           '-net', 'none']))
times.append(check('interactive shell', ['^INTERACTIVE-42\r?$'],
                   stdin_after_marker='echo INTERACTIVE-$((6*7)); exit\n'))
bench = []
for i in range(repeat):
    status, _, secs = boot('bench %d' % (i + 1), run='true')
    if status != 0 or secs is None:
        failed.append('bench %d' % (i + 1))
    else:
        bench.append(secs)

# The default machine's boots: the device checks load more drivers.
for what, ts in (('checks', [times[0], times[1], times[2], times[-1]]),
                 ('plain boots (--repeat)', bench)):
    ts = [t for t in ts if t is not None]
    if ts:
        print('time to KEMU-GUEST-READY under %s, %s: median %.2f s '
              '(min %.2f, max %.2f, %d boots)' % (accel, what,
              statistics.median(ts), min(ts), max(ts), len(ts)))
if failed:
    print('FAILED: ' + ', '.join(failed))
    sys.exit(1)
print('all kit checks passed')
EOF
