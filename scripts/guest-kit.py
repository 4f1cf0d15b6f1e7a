#!/usr/bin/env python3
"""Build kemu's guest kit: Debian 12's stock kernel and a busybox initramfs.

usage: scripts/guest-kit.py [--out DIR] [--gzip] [--force] [--quiet]

Outputs (default DIR: .cache/guest-kit under the repository):
  DIR/vmlinuz     the kernel's bzImage (package linux-image-6.1.0-N-amd64)
  DIR/initrd.img  newc cpio: busybox-static, tests/functional/kit-init as
                  /init, the kit's modules and their load order
  DIR/STAMP       package versions and a hash of this script and kit-init

Everything comes from Debian packages fetched with `apt-get download` and
unpacked with `dpkg-deb -x` into a temporary directory: nothing is installed
on the host and no step needs root (except `apt-get update`, run only as
root and only when apt-cache does not know the packages). A second run with
the same packages, script and init is a no-op. docs/guest-kit.md describes
the kit and the /init protocol.
"""

import argparse
import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INIT_SRC = os.path.join(REPO, 'tests', 'functional', 'kit-init')
KERNEL_META = 'linux-image-amd64'
BUSYBOX = 'busybox-static'

# Drivers /init loads when a device they serve is present (it matches each
# device's sysfs modalias against the drivers' aliases): first for devices on
# the platform buses, then for the virtio devices those transports found.
# `button` is the ACPI power button (QMP system_powerdown presses it).
BUS_DRIVERS = ['virtio_pci', 'virtio_mmio', 'e1000', 'ata_piix', 'ahci', 'button']
VIRTIO_DRIVERS = ['virtio_blk', 'virtio_net', 'virtio_console', 'virtio_rng',
                  'virtio_balloon', 'virtio_scsi']
# Loaded by /init once any SCSI host driver is in (disks appear later,
# asynchronously, so there is no device to match yet).
SCSI_DRIVERS = ['sd_mod']
# Input devices (the power button's among them) get event nodes, which
# busybox acpid reads; its compiled-in table turns the power key into
# /etc/acpi/PWRF/00000080 (POWER_BUTTON below).
INPUT_DRIVERS = ['evdev']
POWER_BUTTON = b'#!/bin/sh\necho "kit: power button: powering off"\nsync\npoweroff -f\n'
# Shipped for `modprobe` in the guest but never loaded by /init.
EXTRA_MODULES = ['ext4', 'crc32c_generic', 'sr_mod']

QUIET = False


def say(msg):
    if not QUIET:
        print('guest-kit: ' + msg, file=sys.stderr)


def die(msg):
    print('guest-kit: error: ' + msg, file=sys.stderr)
    sys.exit(1)


def capture(cmd):
    """Run @cmd; return its stdout, or None if it fails or is missing."""
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, check=False)
    except OSError:
        return None
    return r.stdout if r.returncode == 0 else None


def candidate_versions(pkgs):
    """The versions apt would fetch for @pkgs (one apt-cache run: each takes
    about half a second), or None if apt does not know one of them."""
    out = capture(['apt-cache', 'policy'] + pkgs) or ''
    vers = dict(re.findall(r'^(\S+):\n\s+Installed:.*\n\s+Candidate:\s*(\S+)',
                           out, re.M))
    if any(vers.get(p, '(none)') == '(none)' for p in pkgs):
        return None
    return [vers[p] for p in pkgs]


def resolve_packages():
    """Return [(package, version)] for the kernel and busybox, or None."""
    out = capture(['apt-cache', 'depends', KERNEL_META])
    m = re.search(r'^\s*Depends:\s*(linux-image-[0-9][^\s:]*-amd64)\s*$',
                  out or '', re.M)
    if not m:
        return None
    pkgs = [m.group(1), BUSYBOX]
    vers = candidate_versions(pkgs)
    if vers is None:
        return None
    return list(zip(pkgs, vers))


def file_sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def stamp_text(pkgs, compress):
    lines = ['%s=%s' % pv for pv in pkgs]
    lines.append('script-sha256=%s' % file_sha256(os.path.abspath(__file__)))
    lines.append('init-sha256=%s' % file_sha256(INIT_SRC))
    lines.append('initrd-compression=%s' % compress)
    return '\n'.join(lines) + '\n'


def download(pkgs, dest):
    """apt-get download @pkgs (exact versions) into @dest; return deb paths."""
    cmd = ['apt-get', 'download', '-q']
    if os.geteuid() == 0:
        # apt drops to the _apt user, who cannot write into our private
        # temporary directory; it would fall back and warn anyway.
        cmd += ['-o', 'APT::Sandbox::User=root']
    cmd += ['%s=%s' % pv for pv in pkgs]
    r = subprocess.run(cmd, cwd=dest, stdout=subprocess.DEVNULL, check=False)
    if r.returncode != 0:
        die('apt-get download failed for ' + ' '.join(cmd[-len(pkgs):]))
    debs = {}
    for name in os.listdir(dest):
        if name.endswith('.deb'):
            debs[name.split('_', 1)[0]] = os.path.join(dest, name)
    for p, _ in pkgs:
        if p not in debs:
            die('apt-get download produced no .deb for ' + p)
    return [debs[p] for p, _ in pkgs]


def modinfo(path):
    """Key/value pairs of a kernel module's .modinfo ELF section."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        die('%s: not a 64-bit little-endian ELF module' % path)
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3a)

    def section(i):
        off = shoff + i * shentsize
        name, = struct.unpack_from('<I', data, off)
        start, size = struct.unpack_from('<QQ', data, off + 0x18)
        return name, start, size

    _, strs, _ = section(shstrndx)
    info = []
    for i in range(shnum):
        name, start, size = section(i)
        end = data.index(b'\0', strs + name)
        if data[strs + name:end] == b'.modinfo':
            for entry in data[start:start + size].split(b'\0'):
                k, sep, v = entry.decode('utf-8', 'replace').partition('=')
                if sep:
                    info.append((k, v))
    return info


def modname(s):
    return s.replace('-', '_')


class Modules:
    """The module tree of one kernel: names, paths, dependencies."""

    def __init__(self, moddir):
        self.moddir = moddir
        self.path = {}          # module name -> path relative to moddir
        for root, _, files in os.walk(os.path.join(moddir, 'kernel')):
            for f in files:
                if f.endswith('.ko'):
                    rel = os.path.relpath(os.path.join(root, f), moddir)
                    self.path[modname(f[:-3])] = rel
        if not self.path:
            die('%s: no uncompressed modules (.ko) found' % moddir)
        self.deps = self._read_modules_dep()

    def _read_modules_dep(self):
        """modules.dep when the package ships one (Debian's does not: its
        postinst runs depmod), else None to read each module's .modinfo."""
        dep = os.path.join(self.moddir, 'modules.dep')
        if not os.path.exists(dep):
            return None
        deps = {}
        with open(dep) as f:
            for line in f:
                mod, _, rest = line.partition(':')
                name = modname(os.path.basename(mod).split('.ko')[0])
                deps[name] = [modname(os.path.basename(d).split('.ko')[0])
                              for d in rest.split()]
        return deps

    def depends(self, name):
        if self.deps is not None:
            return self.deps.get(name, [])
        info = modinfo(os.path.join(self.moddir, self.path[name]))
        return [modname(d) for k, v in info if k == 'depends'
                for d in v.split(',') if d]

    def aliases(self, name):
        info = modinfo(os.path.join(self.moddir, self.path[name]))
        return [v for k, v in info if k == 'alias']

    def load_order(self, wanted):
        """@wanted and everything they need, dependencies first. Names not
        in this kernel are skipped with a note (built in, or renamed)."""
        order, state = [], {}

        def visit(name, chain):
            if state.get(name) == 'done':
                return
            if state.get(name) == 'active':
                die('module dependency cycle: ' + ' -> '.join(chain + [name]))
            state[name] = 'active'
            for d in self.depends(name):
                if d not in self.path:
                    die('%s needs %s, which is not in the package' % (name, d))
                visit(d, chain + [name])
            state[name] = 'done'
            order.append(name)

        for w in wanted:
            if w in self.path:
                visit(w, [])
            else:
                say('module %s is not in this kernel (built in?), skipped' % w)
        return order


class Cpio:
    """A newc ("070701") cpio archive written in memory, owned by root."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 0

    def _entry(self, name, mode, data=b'', rdev=(0, 0)):
        self.ino += 1
        nameb = name.encode() + b'\0'
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0,
                  rdev[0], rdev[1], len(nameb), 0)
        hdr = b'070701' + b''.join(b'%08X' % v for v in fields)
        self.buf.write(hdr + nameb)
        self.buf.write(b'\0' * (-(len(hdr) + len(nameb)) % 4))
        self.buf.write(data)
        self.buf.write(b'\0' * (-len(data) % 4))

    def dir(self, name):
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, perm=0o644):
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def finish(self):
        self._entry('TRAILER!!!', 0)
        self.buf.write(b'\0' * (-self.buf.tell() % 512))
        return self.buf.getvalue()


def busybox_applets(busybox):
    """Applet paths ("bin/sh", "sbin/insmod"...) from the static binary
    itself, which runs on any x86-64 Linux host."""
    out = capture([busybox, '--list-full'])
    if not out:
        die('cannot run %s --list-full (is this host x86-64 Linux?)' % busybox)
    return [a for a in out.split() if a != 'bin/busybox']


def shell_pattern(alias):
    """@alias (an fnmatch pattern, as kmod uses it) as a shell case pattern:
    the glob characters stay live, anything else is quoted."""
    return ''.join(ch if re.match(r'[A-Za-z0-9*?\[\]:_,.+/-]', ch) else '\\' + ch
                   for ch in alias)


def drivers_sh(mods, kver, drivers):
    """/etc/kit/drivers.sh, sourced by /init: kit_driver sets $drv to the
    driver of modalias $1 (or empty), kit_chain sets $chain to the modules
    that driver $1 needs, dependencies first, as paths under /lib/modules;
    $kit_scsi_drivers lists the drivers to load once SCSI hosts exist."""
    arms = []
    for name in drivers:
        for a in mods.aliases(name):
            arms.append((len(a.replace('*', '')), shell_pattern(a), name))
    # A case statement takes the first match: exact IDs before class
    # wildcards such as ahci's "any SATA AHCI controller".
    arms.sort(key=lambda arm: -arm[0])
    out = ['# Generated by scripts/guest-kit.py for %s; see kit-init.' % kver,
           'kit_driver() {', '    drv=', '    case $1 in']
    out += ['    %s) drv=%s ;;' % (pat, name) for _, pat, name in arms]
    out += ['    esac', '}', '', 'kit_chain() {', '    chain=', '    case $1 in']
    for name in drivers:
        chain = ' '.join('%s/%s' % (kver, mods.path[m])
                         for m in mods.load_order([name]))
        out.append('    %s) chain="%s" ;;' % (name, chain))
    out += ['    esac', '}', '',
            'kit_scsi_drivers="%s"' % ' '.join(m for m in SCSI_DRIVERS
                                               if m in drivers), '']
    return '\n'.join(out).encode()


def build_initrd(root, kver, compress):
    """The initramfs from the packages unpacked under @root."""
    moddir = os.path.join(root, 'lib', 'modules', kver)
    mods = Modules(moddir)
    wanted = BUS_DRIVERS + VIRTIO_DRIVERS + SCSI_DRIVERS + INPUT_DRIVERS
    drivers = [m for m in wanted if m in mods.path]
    for m in wanted:
        if m not in mods.path:
            say('module %s is not in this kernel (built in?), skipped' % m)
    ship = mods.load_order(drivers + EXTRA_MODULES)

    c = Cpio()
    dirs = set()

    def mkdirs(path):
        parts = path.split('/')
        for i in range(1, len(parts) + 1):
            d = '/'.join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                c.dir(d)

    for d in ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc/kit', 'proc', 'sys',
              'dev', 'tmp', 'run', 'root', 'mnt', 'lib/modules/' + kver]:
        mkdirs(d)
    # The kernel opens /dev/console for /init before /init can mount
    # devtmpfs; a node in the archive needs no privilege to create.
    c.chardev('dev/console', 5, 1)

    with open(os.path.join(root, 'bin', 'busybox'), 'rb') as f:
        c.file('bin/busybox', f.read(), 0o755)
    for applet in busybox_applets(os.path.join(root, 'bin', 'busybox')):
        mkdirs(os.path.dirname(applet))
        depth = applet.count('/')
        c.symlink(applet, '../' * depth + 'bin/busybox')

    with open(INIT_SRC, 'rb') as f:
        c.file('init', f.read(), 0o755)
    c.file('etc/profile', b'PS1="kemu:\\w# "\nexport PS1\n')
    c.file('etc/passwd', b'root:x:0:0:root:/root:/bin/sh\n')
    c.file('etc/group', b'root:x:0:\n')
    c.file('etc/hostname', b'kemu-guest\n')
    mkdirs('etc/acpi/PWRF')
    c.file('etc/acpi/PWRF/00000080', POWER_BUTTON, 0o755)

    dep_lines = []
    for name in ship:
        rel = mods.path[name]
        mkdirs(os.path.join('lib/modules', kver, os.path.dirname(rel)))
        with open(os.path.join(moddir, rel), 'rb') as f:
            c.file(os.path.join('lib/modules', kver, rel), f.read())
        # modules.dep wants the full chain, nearest dependency first.
        chain = [mods.path[d] for d in reversed(mods.load_order([name])[:-1])]
        dep_lines.append('%s: %s' % (rel, ' '.join(chain)))
    # For busybox modprobe in the guest (Debian generates this file with
    # depmod when the package is installed; the .deb does not carry it).
    c.file('lib/modules/%s/modules.dep' % kver,
           ('\n'.join(dep_lines) + '\n').encode())
    c.file('etc/kit/drivers.sh', drivers_sh(mods, kver, drivers))
    c.file('etc/kit/kernel-release', (kver + '\n').encode())

    data = c.finish()
    if compress == 'gzip':
        data = gzip.compress(data, compresslevel=6, mtime=0)
    say('%d modules shipped; drivers loaded on demand: %s'
        % (len(ship), ' '.join(drivers)))
    return data


def write_atomic(path, data):
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def build(out, pkgs, compress):
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='guest-kit.') as tmp:
        dl = os.path.join(tmp, 'debs')
        root = os.path.join(tmp, 'root')
        os.mkdir(dl)
        os.mkdir(root)
        say('downloading ' + ' '.join('%s=%s' % pv for pv in pkgs))
        for deb in download(pkgs, dl):
            subprocess.run(['dpkg-deb', '-x', deb, root], check=True)
        kpkg = pkgs[0][0]
        kver = kpkg[len('linux-image-'):]
        vmlinuz = os.path.join(root, 'boot', 'vmlinuz-' + kver)
        if not os.path.isfile(vmlinuz):
            die('%s has no boot/vmlinuz-%s' % (kpkg, kver))
        initrd = build_initrd(root, kver, compress)
        write_atomic(os.path.join(out, 'initrd.img'), initrd)
        shutil.copyfile(vmlinuz, os.path.join(out, 'vmlinuz.tmp'))
        os.replace(os.path.join(out, 'vmlinuz.tmp'),
                   os.path.join(out, 'vmlinuz'))
        shutil.copyfile(os.path.join(root, 'boot', 'config-' + kver),
                        os.path.join(out, 'config'))


def main():
    global QUIET
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(REPO, '.cache', 'guest-kit'),
                    help='output folder (default: .cache/guest-kit)')
    ap.add_argument('--gzip', action='store_true',
                    help='gzip the initramfs (default: uncompressed, which '
                    'spares the guest an inflate under emulation)')
    ap.add_argument('--force', action='store_true',
                    help='rebuild even if the stamp matches')
    ap.add_argument('--quiet', '-q', action='store_true',
                    help='print only errors')
    args = ap.parse_args()
    QUIET = args.quiet
    out = os.path.abspath(args.out)
    compress = 'gzip' if args.gzip else 'none'
    stamp_path = os.path.join(out, 'STAMP')
    have = all(os.path.isfile(os.path.join(out, f))
               for f in ('vmlinuz', 'initrd.img', 'STAMP'))

    pkgs = resolve_packages()
    if pkgs is None and os.geteuid() == 0:
        say('apt-cache does not know %s/%s: running apt-get update'
            % (KERNEL_META, BUSYBOX))
        subprocess.run(['apt-get', 'update', '-qq'], check=False)
        pkgs = resolve_packages()
    if pkgs is None:
        if have:
            say('cannot resolve the packages (offline?); keeping the kit in '
                + out)
            return 0
        die('apt-cache cannot resolve %s and %s (run as root for apt-get '
            'update, or add a Debian 12 source)' % (KERNEL_META, BUSYBOX))

    stamp = stamp_text(pkgs, compress)
    if have and not args.force:
        with open(stamp_path) as f:
            if f.read() == stamp:
                say('up to date in ' + out)
                return 0
    build(out, pkgs, compress)
    write_atomic(stamp_path, stamp.encode())
    say('built %s/vmlinuz and %s/initrd.img' % (out, out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
