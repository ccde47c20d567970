#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""TCP probes for the security group kselftests, run inside VM namespaces.

  serve PORT...            echo server on every PORT (until killed)
  connect IP PORT          exit 0 if a connection is accepted within 1 s
  stream IP PORT FILE      one connection, a line every 50 ms; FILE holds the
                           number of lines echoed so far (until killed),
                           FILE.last the time of the last echo (ns)
  synflood IP PORT N       N connection attempts from N source ports, at once
"""
import os
import socket
import sys
import threading
import time


def serve(ports):
    def echo(conn):
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def listen(port):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(512)
        while True:
            conn, _ = s.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    for p in ports:
        threading.Thread(target=listen, args=(p,), daemon=True).start()
    while True:
        time.sleep(3600)


def connect(ip, port):
    try:
        socket.create_connection((ip, port), timeout=1).close()
    except OSError:
        sys.exit(1)


def stream(ip, port, path):
    s = socket.create_connection((ip, port), timeout=2)
    s.settimeout(0.3)
    n = 0
    while True:
        try:
            s.sendall(b"x\n")
            if s.recv(16):
                n += 1
                tmp = path + ".tmp"
                with open(tmp, "w") as f:
                    f.write(str(n))
                os.replace(tmp, path)
                with open(tmp, "w") as f:
                    f.write(str(time.time_ns()))
                os.replace(tmp, path + ".last")
        except socket.timeout:
            pass
        except OSError:
            time.sleep(0.3)  # cut: keep the count where it stopped
        time.sleep(0.05)


def synflood(ip, port, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect((ip, port))
        except (BlockingIOError, OSError):
            pass
        socks.append(s)
    time.sleep(1)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve([int(p) for p in args])
    elif cmd == "connect":
        connect(args[0], int(args[1]))
    elif cmd == "stream":
        stream(args[0], int(args[1]), args[2])
    elif cmd == "synflood":
        synflood(args[0], int(args[1]), int(args[2]))
    else:
        sys.exit("unknown command " + cmd)
