#!/usr/bin/env python3
"""slirp's DNS forwarder and restrict=on, seen from the guest kit.

usage: test-net-slirp.py KEMU KIT_DIR CASE

CASE:
  dns        -netdev user: DHCP offers 10.0.2.3 as the name server, and a
             busybox nslookup sent to 10.0.2.3 gets an answer from slirp's
             forwarder (any answer: NXDOMAIN counts, the machine may be
             offline), while one sent to 10.0.2.53 gets none.
  dns-moved  -netdev user,dns=10.0.2.53: the same with the addresses swapped.
  restrict   -netdev user,restrict=on,hostfwd=...: DHCP still works, the
             guest's wget of a host HTTP server through 10.0.2.2 fails and
             the server sees no request, while hostfwd into a guest
             listener still carries data (checked by sha256). Debian's
             busybox 1.35 wget dies of SIGSEGV (status 139) on a refused
             connection, under QEMU too: any non-zero status counts.

slirp forwards DNS to the host's resolver (/etc/resolv.conf). The test asks
that resolver itself first: if it does not answer, the "answer" checks are
skipped, loudly; the DHCP offer is checked regardless. An address in the
guest network that is not slirp's DNS goes to the host's 127.0.0.1:53; the
"no answer" check is skipped if something answers there.
Exit status: 0 pass, 1 fail.
"""
import functools
import http.server
import os
import random
import re
import socket
import struct
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kemu_guest import Guest, check_kit, hostfwd_deliver  # noqa: E402

TIMEOUT = 300
GUEST_PORT = 7777
NAME = "localhost"

DHCP = r"""
# restrict=on leases offer no router and no name server.
printf '#!/bin/sh\n[ "$1" = bound ] || exit 0\nip addr add $ip/$mask dev $interface\n[ -n "$router" ] && ip route add default via $router\necho "LEASE $ip DHCP-DNS $dns."\nexit 0\n' > /tmp/dhcp.sh
chmod +x /tmp/dhcp.sh
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -n -q -t 10 -s /tmp/dhcp.sh || exit 3
"""

DNS_SCRIPT = DHCP + r"""
for s in {servers}; do
    echo "Q-BEGIN $s"
    nslookup -timeout=3 -retry=1 {name} $s
    echo "Q-END $s"
done
"""

RESTRICT_SCRIPT = DHCP + r"""
wget -q -T 10 -O /tmp/blob http://10.0.2.2:{http_port}/blob
echo "WGET-STATUS $?"
nc -l -p {guest_port} > /tmp/in &
while ! cat /proc/net/tcp /proc/net/tcp6 | grep -q ':{guest_port_hex} [0-9A-F]*:0000 0A'; do usleep 50000; done
echo NC-LISTENING
wait
echo "RECEIVED $(sha256sum /tmp/in)"
"""


def host_nameserver():
    """The first IPv4 nameserver of /etc/resolv.conf (what libslirp uses), or None."""
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                m = re.match(r"\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$", line)
                if m:
                    return m.group(1)
    except OSError:
        pass
    return None


def dns_answers(server, timeout=3.0):
    """True if @server:53 answers an A query for NAME (with any rcode)."""
    qid = random.randrange(65536)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in NAME.split("."))
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + \
        struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(query, (server, 53))
            data, _ = s.recvfrom(4096)
        except OSError:
            return False
    return len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid


def query_result(out, server):
    """'answer', 'none' (timed out) or None (no such query) for @server."""
    m = re.search(rb"Q-BEGIN " + re.escape(server.encode()) + rb"\r?\n(.*?)Q-END", out, re.S)
    if not m:
        return None
    text = m.group(1)
    if b"timed out" in text or b"no servers could be reached" in text:
        return "none"
    if re.search(rb"Server:\s+" + re.escape(server.encode()), text):
        return "answer"
    return None


def case_dns(kemu, kit, moved):
    dns, other = ("10.0.2.53", "10.0.2.3") if moved else ("10.0.2.3", "10.0.2.53")
    ns = host_nameserver()
    can_answer = ns is not None and dns_answers(ns)
    silent_loopback = not dns_answers("127.0.0.1", timeout=2.0)
    netdev = "user,id=n0" + (f",dns={dns}" if moved else "")
    g = Guest(kemu, kit, ["-netdev", netdev, "-device", "virtio-net-pci,netdev=n0"],
              run=DNS_SCRIPT.format(servers=f"{dns} {other}", name=NAME), label=CASE)
    if not g.wait_for(rb"KEMU-RUN-EXIT=\d+", timeout=TIMEOUT):
        return g.fail("no KEMU-RUN-EXIT line")
    status = g.finish()
    if status != 0 or b"KEMU-RUN-EXIT=0" not in g.out:
        return g.fail(f"the guest command or kemu failed (kemu exit status {status})")
    m = re.search(rb"DHCP-DNS (\S*)\.", g.out)
    if not m or m.group(1).decode() != dns:
        return g.fail(f"DHCP offered name server {m and m.group(1)}, want {dns}")
    notes = [f"DHCP offers {dns}"]
    got = query_result(g.out, dns)
    if can_answer:
        if got != "answer":
            return g.fail(f"nslookup {NAME} {dns}: no answer from slirp's DNS ({got}), "
                          f"though the host's resolver {ns} answers")
        notes.append(f"{dns} answers (forwarded to {ns})")
    else:
        print(f"SKIP (part of {CASE}): the host's resolver ({ns}) does not answer; "
              f"not checking that {dns} answers")
    got = query_result(g.out, other)
    if silent_loopback:
        if got != "none":
            return g.fail(f"nslookup {NAME} {other}: {got}, want no answer "
                          f"(not slirp's DNS address)")
        notes.append(f"{other} does not")
    else:
        print(f"SKIP (part of {CASE}): something answers DNS on the host's 127.0.0.1:53; "
              f"not checking that {other} stays silent")
    print(f"PASS ({CASE}): " + "; ".join(notes))
    return 0


class Counting(http.server.SimpleHTTPRequestHandler):
    """Serves files and counts the requests it sees (class attribute)."""
    requests = 0

    def do_GET(self):
        Counting.requests += 1
        super().do_GET()

    def log_message(self, *args):
        pass


def case_restrict(kemu, kit):
    tmp = tempfile.TemporaryDirectory()
    with open(os.path.join(tmp.name, "blob"), "wb") as f:
        f.write(os.urandom(4096))
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Counting, directory=tmp.name))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        fwd_port = s.getsockname()[1]
    script = RESTRICT_SCRIPT.format(http_port=httpd.server_address[1], guest_port=GUEST_PORT,
                                    guest_port_hex=f"{GUEST_PORT:04X}")
    netdev = f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{fwd_port}-:{GUEST_PORT}"
    g = Guest(kemu, kit, ["-netdev", netdev, "-device", "virtio-net-pci,netdev=n0"],
              run=script, label=CASE)
    try:
        if not g.wait_for(rb"LEASE \d|KEMU-RUN-EXIT=\d+", timeout=TIMEOUT) \
                or b"LEASE" not in g.out:
            return g.fail("no DHCP lease under restrict=on")
        m = g.wait_for(rb"WGET-STATUS (\d+)|KEMU-RUN-EXIT=\d+", timeout=TIMEOUT)
        if not m or not m.group(1):
            return g.fail("the guest's wget did not finish")
        wget_status = m.group(1).decode()
        if wget_status == "0" or Counting.requests:
            return g.fail(f"restrict=on: the guest reached the host's HTTP server "
                          f"(wget status {wget_status}, {Counting.requests} requests)")
        why = hostfwd_deliver(g, fwd_port, 64 * 1024, TIMEOUT)
        if why:
            return g.fail("restrict=on: " + why)
        if not g.wait_for(rb"KEMU-RUN-EXIT=0", timeout=TIMEOUT):
            return g.fail("the guest command did not exit 0")
        status = g.finish()
        if status != 0:
            return g.fail(f"kemu exit status {status}")
    finally:
        httpd.shutdown()
    print(f"PASS ({CASE}): DHCP works, wget to 10.0.2.2 fails (status {wget_status}) and "
          f"the host's server saw no request, hostfwd delivered 64 KiB intact")
    return 0


CASE = ""


def main():
    global CASE
    kemu, kit, CASE = sys.argv[1:4]
    missing = check_kit(kit)
    if missing:
        print(missing)
        return 1
    if CASE in ("dns", "dns-moved"):
        return case_dns(kemu, kit, CASE == "dns-moved")
    if CASE == "restrict":
        return case_restrict(kemu, kit)
    print(f"FAIL: unknown case {CASE!r} (dns, dns-moved, restrict)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
