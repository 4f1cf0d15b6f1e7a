#!/usr/bin/env python3
"""Networking in the guest kit through -netdev user (slirp).

usage: test-net.py KEMU KIT_DIR MODEL

MODEL: virtio-net-pci or e1000 (-netdev user + -device MODEL), or "nic" for
-nic user,... with the default model (e1000, as QEMU), or "tap" (below).

The guest (Debian's kernel + busybox under the interpreter):
  1. gets a DHCP lease (udhcpc; the script configures address and route);
  2. downloads a random file from a python http.server on the host's
     loopback through slirp's 10.0.2.2 with busybox wget: the guest's
     sha256 must be the host's;
  3. uploads the file with busybox nc to a host listener on 10.0.2.2
     (guest transmit of bulk TCP, TSO on e1000): the host checks the digest;
  4. listens with busybox nc on port 7777, which hostfwd maps from a host
     port; while it waits, kemu's main loop must be idle (under a quarter
     of a CPU over 2 s: a loop that spins takes all of one); then the host
     sends a random blob and the guest prints its digest.

tap (root only; exit status 77 when not root or `ip netns` is unusable):
two network namespaces, "br" with a bridge, a tap and one end of a veth
pair, and "peer" with the other end at 192.168.77.1. kemu runs in "br" on
-netdev tap + virtio-net-pci; the guest (192.168.77.2) pings the peer and
sends a line with nc to a listener in "peer", which the host checks. The
namespaces and links are removed whatever happens.
Exit status: 0 pass, 1 fail, 77 skipped.
"""
import functools
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kemu_guest import Guest, check_kit, hostfwd_deliver  # noqa: E402

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


IDLE_WINDOW = 2.0       # seconds the main loop's CPU time is measured over
IDLE_MAX = 0.25         # its share of one CPU that still counts as idle


def thread_cpu_seconds(pid, tid):
    """utime + stime of thread @tid of process @pid so far, in seconds."""
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main_loop_idle(g):
    """None if kemu's main thread (the main loop) stays idle while the
    guest waits on its hostfwd listener, else why not."""
    if (not g.wait_for(rb"NC-LISTENING|KEMU-RUN-EXIT=\d+", timeout=TIMEOUT)
            or b"NC-LISTENING" not in g.out):
        return "the guest's nc listener did not start"
    pid = g.p.pid
    before = thread_cpu_seconds(pid, pid)
    time.sleep(IDLE_WINDOW)
    used = thread_cpu_seconds(pid, pid) - before
    if used > IDLE_MAX * IDLE_WINDOW:
        return (f"main loop used {used:.2f} CPU s in {IDLE_WINDOW} s while the guest "
                "waited on a hostfwd listener (it spins)")
    return None


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


def case_slirp(kemu, kit, model):
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
    fwd = f"hostfwd=tcp:127.0.0.1:{fwd_port}-:{GUEST_PORT}"
    if model == "nic":
        netargs = ["-nic", f"user,{fwd}"]
    else:
        netargs = ["-netdev", f"user,id=n0,{fwd}", "-device", f"{model},netdev=n0"]
    g = Guest(kemu, kit, netargs, run=script, interactive=True, label=model)

    m = g.wait_for(rb"LEASE inet ([0-9.]+)\s|KEMU-RUN-EXIT=\d+", timeout=TIMEOUT)
    if not m or not m.group(1):
        return g.fail("no DHCP lease")
    lease = m.group(1).decode()
    m = g.wait_for(rb"GOT ([0-9a-f]{64})|KEMU-RUN-EXIT=\d+", timeout=TIMEOUT)
    if not m or not m.group(1) or m.group(1).decode() != blob_sha:
        return g.fail("wget: the guest's sha256 differs from the host's (or no download)")
    if not g.wait_for(rb"UPLOADED|KEMU-RUN-EXIT=\d+", timeout=TIMEOUT) or b"UPLOADED" not in g.out:
        return g.fail("nc upload to the host failed")
    sink.join(timeout=60)
    if sink.digest != blob_sha:
        return g.fail(f"upload: host got sha256 {sink.digest}, want {blob_sha}")
    why = main_loop_idle(g) or hostfwd_deliver(g, fwd_port, 200 * 1024, TIMEOUT)
    if why:
        return g.fail(why)
    if not g.wait_for(rb"KEMU-RUN-EXIT=0", timeout=TIMEOUT):
        return g.fail("the guest command did not exit 0")
    try:
        status = g.p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        return g.fail("kemu did not exit after the guest powered off")
    if status != 0:
        return g.fail(f"kemu exit status {status}")
    httpd.shutdown()
    print(f"PASS ({model}): lease {lease}; wget 300 KiB, nc upload 300 KiB and "
          f"hostfwd 200 KiB with matching sha256; main loop idle while waiting")
    return 0


TAP_GUEST_IP = "192.168.77.2"
TAP_PEER_IP = "192.168.77.1"
TAP_PORT = 7778
TAP_SCRIPT = r"""
ip link set lo up
ip link set eth0 up
ip addr add {guest_ip}/24 dev eth0
n=0
until ping -c 1 -W 2 {peer_ip} >/dev/null; do
    n=$((n+1)); [ $n -ge 15 ] && exit 3
done
echo PING-OK
echo '{msg}' | nc {peer_ip} {port} || exit 4
echo NC-SENT
"""
# The peer: accept one connection, print what arrived, exit.
PEER_LISTENER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("LISTENING", flush=True)
s.settimeout(float(sys.argv[3]))
c, _ = s.accept()
data = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    data += d
print("PEER-GOT " + data.decode(errors="replace").strip(), flush=True)
"""


def ip(*args, ns=None, check=True):
    """Run `ip ARGS` (inside netns @ns if given); CalledProcessError if @check."""
    argv = ["ip"] + (["netns", "exec", ns, "ip"] if ns else []) + list(args)
    return subprocess.run(argv, check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)


def tap_usable():
    """None if this can build the namespaces, else why not (skip reason)."""
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("ip"):
        return "no ip (iproute2)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if subprocess.run(["ip", "netns", "list"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        return "`ip netns` is unavailable"
    return None


def case_tap(kemu, kit):
    why = tap_usable()
    if why:
        print(f"SKIP (tap): {why}; the tap test needs root and ip netns")
        return 77
    tag = f"{os.getpid() % 100000}"
    ns_br, ns_peer = f"kemu-br-{tag}", f"kemu-peer-{tag}"
    br, tap, veth_br, veth_peer = f"kbr{tag}", f"ktap{tag}", f"kvb{tag}", f"kvp{tag}"
    msg = f"hello-over-tap-{tag}"
    listener = None
    g = None
    try:
        ip("netns", "add", ns_br)
        ip("netns", "add", ns_peer)
        ip("link", "add", br, "type", "bridge", ns=ns_br)
        ip("tuntap", "add", "dev", tap, "mode", "tap", ns=ns_br)
        ip("link", "add", veth_br, "type", "veth", "peer", "name", veth_peer, ns=ns_br)
        ip("link", "set", veth_peer, "netns", ns_peer, ns=ns_br)
        for dev in (tap, veth_br):
            ip("link", "set", dev, "master", br, ns=ns_br)
        for dev in (br, tap, veth_br, "lo"):
            ip("link", "set", dev, "up", ns=ns_br)
        ip("addr", "add", f"{TAP_PEER_IP}/24", "dev", veth_peer, ns=ns_peer)
        ip("link", "set", veth_peer, "up", ns=ns_peer)
        ip("link", "set", "lo", "up", ns=ns_peer)

        listener = subprocess.Popen(
            ["ip", "netns", "exec", ns_peer, sys.executable, "-c", PEER_LISTENER,
             TAP_PEER_IP, str(TAP_PORT), str(TIMEOUT)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if listener.stdout.readline().strip() != b"LISTENING":
            print("FAIL (tap): the peer's listener did not start")
            return 1
        script = TAP_SCRIPT.format(guest_ip=TAP_GUEST_IP, peer_ip=TAP_PEER_IP,
                                   port=TAP_PORT, msg=msg)
        g = Guest(kemu, kit, ["-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
                              "-device", "virtio-net-pci,netdev=n0"],
                  run=script, label="tap", wrap=["ip", "netns", "exec", ns_br])
        if not g.wait_for(rb"PING-OK|KEMU-RUN-EXIT=\d+", timeout=TIMEOUT) \
                or b"PING-OK" not in g.out:
            return g.fail(f"the guest could not ping the peer {TAP_PEER_IP}")
        if not g.wait_for(rb"KEMU-RUN-EXIT=\d+", timeout=TIMEOUT):
            return g.fail("no KEMU-RUN-EXIT line")
        status = g.finish()
        if b"NC-SENT" not in g.out or b"KEMU-RUN-EXIT=0" not in g.out or status != 0:
            return g.fail(f"nc to the peer failed (kemu exit status {status})")
        try:
            peer_out = listener.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            return g.fail("the peer's listener got no connection")
        if f"PEER-GOT {msg}".encode() not in peer_out:
            return g.fail(f"the peer received {peer_out!r}, not {msg}")
        print(f"PASS (tap): guest {TAP_GUEST_IP} pinged {TAP_PEER_IP} across a bridge "
              f"in another netns; the peer got {msg!r} over TCP")
        return 0
    except subprocess.CalledProcessError as e:
        print(f"FAIL (tap): {' '.join(e.cmd)}: {e.stdout.decode(errors='replace')}")
        return 1
    finally:
        for p in (g.p if g else None, listener):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        # Deleting a namespace destroys the links in it (the veth pair too).
        ip("netns", "del", ns_peer, check=False)
        ip("netns", "del", ns_br, check=False)


def main():
    kemu, kit, model = sys.argv[1:4]
    missing = check_kit(kit)
    if missing:
        print(missing)
        return 1
    if model == "tap":
        return case_tap(kemu, kit)
    return case_slirp(kemu, kit, model)


if __name__ == "__main__":
    sys.exit(main())
