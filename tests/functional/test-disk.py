#!/usr/bin/env python3
"""Boot the guest kit with a virtio-blk disk and check the image on the host.

usage: test-disk.py KEMU KIT_DIR CASE [extra kemu args...]

Cases:
  rw        -drive if=virtio: the guest sees the size, reads a sector the
            host wrote, writes one with dd; the host finds it in the image.
  readonly  -drive readonly=on: /sys/block/vda/ro is 1, a dd write fails,
            the image is unchanged.
  blockdev  -blockdev file + raw, -device virtio-blk-pci,serial=: the guest
            reads the serial from sysfs and writes through cache=none.
  sigkill   the guest writes with O_DIRECT + fsync and says so; kemu is then
            killed with SIGKILL: the data is in the image all the same.
  fs        the guest makes an ext2 filesystem with busybox mke2fs, mounts it
            (ext4 driver), writes a multi-MiB file of `seq` output, a zero
            file and a small text, unmounts; on the host e2fsck -fn finds it
            clean and debugfs reads the files back byte for byte.
Exit status: 0 pass, 1 fail.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kemu_guest import Guest, check_kit, run_to_end  # noqa: E402

IMG_SIZE = 8 << 20
SECTORS = IMG_SIZE // 512
HOST_MARK = b"host-wrote-this-sector-5"
GUEST_MARK = "kemu-guest-wrote-this"


def make_image(path):
    with open(path, "wb") as f:
        f.truncate(IMG_SIZE)
        f.seek(5 * 512)
        f.write(HOST_MARK)


def read_image(path, sector, n):
    with open(path, "rb") as f:
        f.seek(sector * 512)
        return f.read(n)


WRITE_CMD = f"echo {GUEST_MARK} | dd of=/dev/vda bs=512 count=1 seek=2 conv=sync,fsync"
READ5_CMD = "dd if=/dev/vda bs=512 skip=5 count=1 2>/dev/null | head -c 24; echo"


def case_rw(kemu, kit, img, extra):
    g = Guest(kemu, kit, ["-drive", f"file={img},format=raw,if=virtio"] + extra,
              run=f"echo size=$(cat /sys/block/vda/size); {READ5_CMD}; {WRITE_CMD}")
    why = run_to_end(g)
    if why:
        return g.fail(why)
    if f"size={SECTORS}".encode() not in g.out:
        return g.fail(f"/sys/block/vda/size is not {SECTORS}")
    if HOST_MARK not in g.out:
        return g.fail("the guest did not read the host's sector 5")
    got = read_image(img, 2, len(GUEST_MARK))
    if got != GUEST_MARK.encode():
        return g.fail(f"sector 2 of the image holds {got!r}")
    print("PASS: size, a host-written sector read, a guest-written sector on the host")
    return 0


def case_readonly(kemu, kit, img, extra):
    g = Guest(kemu, kit, ["-drive", f"file={img},format=raw,if=virtio,readonly=on"] + extra,
              run=f"echo ro=$(cat /sys/block/vda/ro); {READ5_CMD}; "
                  f"if {WRITE_CMD}; then echo WRITE-OK; else echo WRITE-REFUSED; fi")
    why = run_to_end(g)
    if why:
        return g.fail(why)
    if b"ro=1" not in g.out:
        return g.fail("/sys/block/vda/ro is not 1")
    if HOST_MARK not in g.out:
        return g.fail("the guest could not read the read-only disk")
    if b"WRITE-REFUSED" not in g.out:
        return g.fail("a write to the read-only disk did not fail")
    if read_image(img, 2, 512) != bytes(512):
        return g.fail("the read-only image changed")
    print("PASS: read-only disk readable, writes refused, image unchanged")
    return 0


def case_blockdev(kemu, kit, img, extra):
    g = Guest(kemu, kit,
              ["-blockdev", f"driver=file,filename={img},node-name=f0,cache.direct=on",
               "-blockdev", "driver=raw,file=f0,node-name=disk0",
               "-device", "virtio-blk-pci,drive=disk0,serial=KEMU-SERIAL-42"] + extra,
              run=f"echo serial=$(cat /sys/block/vda/serial); {WRITE_CMD}")
    why = run_to_end(g)
    if why:
        return g.fail(why)
    if b"serial=KEMU-SERIAL-42" not in g.out:
        return g.fail("/sys/block/vda/serial is not KEMU-SERIAL-42")
    if read_image(img, 2, len(GUEST_MARK)) != GUEST_MARK.encode():
        return g.fail("the O_DIRECT write is not in the image")
    print("PASS: -blockdev + -device virtio-blk-pci, serial, cache.direct write")
    return 0


def case_sigkill(kemu, kit, img, extra):
    g = Guest(kemu, kit, ["-drive", f"file={img},format=raw,if=virtio"] + extra,
              run=f"{WRITE_CMD} oflag=direct && echo WROTE-AND-SYNCED; sleep 1000")
    if not g.wait_for(rb"WROTE-AND-SYNCED"):
        return g.fail("the guest never reported its write")
    g.p.send_signal(signal.SIGKILL)
    g.p.wait()
    if read_image(img, 2, len(GUEST_MARK)) != GUEST_MARK.encode():
        return g.fail("data the guest had synced is not in the image after SIGKILL")
    print("PASS: synced guest data survives SIGKILL of kemu")
    return 0


FS_IMG_SIZE = 32 << 20
FS_SEQ_END = 500000     # `seq 1 500000` is 3.4 MiB
FS_TEXT = "kemu wrote this on ext2"
FS_CMD = (f"modprobe -a crc32c_generic ext4 && mke2fs -L kemu-fs /dev/vda && "
          f"mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && "
          f"seq 1 {FS_SEQ_END} > /mnt/seq.txt && "
          f"dd if=/dev/zero of=/mnt/zero.bin bs=64k count=16 2>/dev/null && "
          f"mkdir /mnt/dir && echo '{FS_TEXT}' > /mnt/dir/small.txt && "
          f"umount /mnt && echo FS-WRITTEN")


# e2fsprogs lives in /sbin, which a non-root PATH may lack.
SBIN_ENV = dict(os.environ, PATH=os.environ.get("PATH", "") + ":/sbin:/usr/sbin")


def debugfs_cat(img, path):
    r = subprocess.run(["debugfs", "-R", f"cat {path}", img], env=SBIN_ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return r.stdout


def case_fs(kemu, kit, img, extra):
    for tool in ("debugfs", "e2fsck"):
        if not shutil.which(tool, path=SBIN_ENV["PATH"]):
            print(f"FAIL: {tool} not found: install e2fsprogs (scripts/install-deps.sh)")
            return 1
    os.truncate(img, FS_IMG_SIZE)
    g = Guest(kemu, kit, ["-drive", f"file={img},format=raw,if=virtio"] + extra,
              run=FS_CMD)
    why = run_to_end(g)
    if why:
        return g.fail(why)
    if b"FS-WRITTEN" not in g.out:
        return g.fail("the guest did not make, fill and unmount the filesystem")
    fsck = subprocess.run(["e2fsck", "-fn", img], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=SBIN_ENV)
    if fsck.returncode != 0:
        return g.fail(f"e2fsck -fn exit {fsck.returncode}:\n{fsck.stdout.decode(errors='replace')}")
    want = "".join(f"{i}\n" for i in range(1, FS_SEQ_END + 1)).encode()
    checks = {"/seq.txt": want, "/zero.bin": bytes(1 << 20),
              "/dir/small.txt": (FS_TEXT + "\n").encode()}
    for path, data in checks.items():
        got = debugfs_cat(img, path)
        if got != data:
            return g.fail(f"debugfs cat {path}: {len(got)} bytes differ from the "
                          f"{len(data)} the guest wrote")
    print(f"PASS: guest mke2fs + mount + {len(want)} B seq file, 1 MiB zeros, text; "
          "host e2fsck clean, debugfs reads them back")
    return 0


CASES = {"rw": case_rw, "readonly": case_readonly, "blockdev": case_blockdev,
         "sigkill": case_sigkill, "fs": case_fs}


def main():
    kemu, kit, case = sys.argv[1:4]
    extra = sys.argv[4:]
    missing = check_kit(kit)
    if missing:
        print(missing)
        return 1
    with tempfile.TemporaryDirectory(prefix="kemu-disk-", dir="/var/tmp") as tmp:
        img = os.path.join(tmp, "disk.img")
        make_image(img)
        return CASES[case](kemu, kit, img, extra)


if __name__ == "__main__":
    sys.exit(main())
