#!/usr/bin/python3
"""One connection to the helper's Unix socket, driven line by line.

    socket_session.py SOCKET CONTROL

Connects to SOCKET and prints "connected"; then for each line read from
CONTROL (a file or FIFO) sends it as a generic-protocol request and prints
the answer ("1" or "0"), or "closed" if the server closed the connection,
or "timeout" if no answer came within 30 s. At the end of CONTROL it closes
the connection. Each printed line is flushed at once, so that a test can
watch a connection waiting in the socket's backlog.
"""
import socket
import sys


def answer(sock):
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = sock.recv(64)
        except socket.timeout:
            return "timeout"
        except OSError:
            return "closed"
        if not chunk:
            return "closed"
        data += chunk
    return data.decode().strip()


def main():
    path, control = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(path)
    print("connected", flush=True)
    with open(control) as f:
        for line in f:
            try:
                sock.sendall(line.rstrip("\n").encode() + b"\n")
            except OSError:
                print("closed", flush=True)
                continue
            print(answer(sock), flush=True)
    sock.close()


if __name__ == "__main__":
    main()
