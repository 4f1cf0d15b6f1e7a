"""QMP's framing as kemu and QEMU send it: one JSON object per line, each
ending in CR LF. Shared by the QMP tests' small clients."""
import json


def read_message(sock, buf):
    """The next message from SOCK after the bytes already in BUF, and the
    bytes left over: (message, buf). EOFError when the peer closed."""
    while b"\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise EOFError("QMP connection closed")
        buf += data
    line, buf = buf.split(b"\r\n", 1)
    return json.loads(line), buf
