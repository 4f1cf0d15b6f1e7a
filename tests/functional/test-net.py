#!/usr/bin/env python3
"""Networking in the guest kit through -netdev user (slirp).

usage: test-net.py KEMU KIT_DIR MODEL

MODEL: virtio-net-pci or e1000 (-netdev user + -device MODEL), or "nic" for
-nic user,... with the default model (e1000, as QEMU).

The guest (Debian's kernel + busybox under the interpreter):
  1. gets a DHCP lease (udhcpc; the script configures address and route);
  2. downloads a random file from a python http.server on the host's
     loopback through slirp's 10.0.2.2 with busybox wget: the guest's
     sha256 must be the host's;
  3. uploads the file with busybox nc to a host listener on 10.0.2.2
     (guest transmit of bulk TCP, TSO on e1000): the host checks the digest;
  4. listens with busybox nc on port 7777, which hostfwd maps from a host
     port; the host sends a random blob and the guest prints its digest.
Exit status: 0 pass, 1 fail.
"""
import base64
import functools
import hashlib
import http.server
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

APPEND = "console=ttyS0 quiet nokaslr mitigations=off tsc=reliable no_timer_check panic=-1"
TIMEOUT = 300
GUEST_PORT = 7777

GUEST_SCRIPT = r"""
printf '#!/bin/sh\n[ "$1" = bound ] && ip addr add $ip/$mask dev $interface && ip route add default via $router\nexit 0\n' > /tmp/dhcp.sh
chmod +x /tmp/dhcp.sh
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -n -q -t 10 -s /tmp/dhcp.sh || exit 3
echo "LEASE $(ip -4 addr show eth0 | grep -o 'inet [0-9.]*')"
wget -q -O /tmp/blob http://10.0.2.2:{http_port}/blob || exit 4
echo "GOT $(sha256sum /tmp/blob)"
nc 10.0.2.2 {sink_port} < /tmp/blob || exit 5
echo UPLOADED
nc -l -p {guest_port} > /tmp/in &
while ! cat /proc/net/tcp /proc/net/tcp6 | grep -q ':{guest_port_hex} [0-9A-F]*:0000 0A'; do usleep 50000; done
echo NC-LISTENING
wait
echo "RECEIVED $(sha256sum /tmp/in)"
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sink(threading.Thread):
    """Accept one connection on loopback and hash what arrives."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.digest = None

    def run(self):
        self.sock.settimeout(TIMEOUT)
        conn, _ = self.sock.accept()
        h = hashlib.sha256()
        while True:
            data = conn.recv(65536)
            if not data:
                break
            h.update(data)
        conn.close()
        self.digest = h.hexdigest()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main():
    kemu, kit, model = sys.argv[1:4]
    for f in ("vmlinuz", "initrd.img"):
        if not os.path.exists(os.path.join(kit, f)):
            print(f"FAIL: {kit}/{f} is missing: run scripts/guest-kit.py (make check does)")
            return 1
    tmp = tempfile.TemporaryDirectory()
    blob = os.urandom(300 * 1024)
    with open(os.path.join(tmp.name, "blob"), "wb") as f:
        f.write(blob)
    blob_sha = hashlib.sha256(blob).hexdigest()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=tmp.name))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sink = Sink()
    sink.start()
    fwd_port = free_port()

    script = GUEST_SCRIPT.format(http_port=httpd.server_address[1], sink_port=sink.port,
                                 guest_port=GUEST_PORT, guest_port_hex=f"{GUEST_PORT:04X}")
    append = APPEND + " kemu.run=" + base64.b64encode(script.encode()).decode()
    argv = [kemu, "-accel", "tcg", "-m", "512",
            "-kernel", os.path.join(kit, "vmlinuz"),
            "-initrd", os.path.join(kit, "initrd.img"),
            "-append", append, "-nographic", "-no-reboot"]
    fwd = f"hostfwd=tcp:127.0.0.1:{fwd_port}-:{GUEST_PORT}"
    if model == "nic":
        argv += ["-nic", f"user,{fwd}"]
    else:
        argv += ["-netdev", f"user,id=n0,{fwd}", "-device", f"{model},netdev=n0"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = b""

    def wait_for(pattern):
        nonlocal out
        deadline = time.monotonic() + TIMEOUT
        while not re.search(pattern, out):
            left = deadline - time.monotonic()
            if left <= 0 or p.poll() is not None and not select.select([p.stdout], [], [], 0)[0]:
                return None
            r, _, _ = select.select([p.stdout], [], [], left)
            if r:
                data = os.read(p.stdout.fileno(), 65536)
                if not data:
                    return re.search(pattern, out)
                out += data
        return re.search(pattern, out)

    def fail(why):
        if p.poll() is None:
            p.kill()
            p.wait()
        print(f"FAIL ({model}): {why}\n--- command: {' '.join(argv[:3])} ...\n"
              f"--- output (tail):\n{out[-3000:].decode(errors='replace')}")
        return 1

    m = wait_for(rb"LEASE inet ([0-9.]+)|KEMU-RUN-EXIT=\d+")
    if not m or not m.group(1):
        return fail("no DHCP lease")
    lease = m.group(1).decode()
    m = wait_for(rb"GOT ([0-9a-f]{64})|KEMU-RUN-EXIT=\d+")
    if not m or not m.group(1) or m.group(1).decode() != blob_sha:
        return fail("wget: the guest's sha256 differs from the host's (or no download)")
    if not wait_for(rb"UPLOADED|KEMU-RUN-EXIT=\d+") or b"UPLOADED" not in out:
        return fail("nc upload to the host failed")
    sink.join(timeout=60)
    if sink.digest != blob_sha:
        return fail(f"upload: host got sha256 {sink.digest}, want {blob_sha}")
    if not wait_for(rb"NC-LISTENING|KEMU-RUN-EXIT=\d+") or b"NC-LISTENING" not in out:
        return fail("the guest's nc listener did not start")
    data = os.urandom(200 * 1024)
    with socket.create_connection(("127.0.0.1", fwd_port), timeout=60) as c:
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        c.settimeout(TIMEOUT)
        while c.recv(65536):
            pass
    m = wait_for(rb"RECEIVED ([0-9a-f]{64})|KEMU-RUN-EXIT=\d+")
    want = hashlib.sha256(data).hexdigest()
    if not m or not m.group(1) or m.group(1).decode() != want:
        return fail("hostfwd: the guest's digest of the received data is wrong")
    if not wait_for(rb"KEMU-RUN-EXIT=0"):
        return fail("the guest command did not exit 0")
    try:
        status = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        return fail("kemu did not exit after the guest powered off")
    if status != 0:
        return fail(f"kemu exit status {status}")
    httpd.shutdown()
    print(f"PASS ({model}): lease {lease}; wget 300 KiB, nc upload 300 KiB and "
          f"hostfwd 200 KiB with matching sha256")
    return 0


if __name__ == "__main__":
    sys.exit(main())
