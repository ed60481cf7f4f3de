#!/usr/bin/python3
"""ejabberd framing for the shell suites.

    frames.py encode   lines on stdin -> 2-byte-length packets on stdout
    frames.py decode   4-byte answers on stdin -> "1"/"0" lines on stdout
                       (anything else is printed as "?XX..." and exits 1)
"""
import sys


def encode():
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        body = line.rstrip(b"\n")
        out.write(len(body).to_bytes(2, "big") + body)
    out.flush()


def decode():
    data = sys.stdin.buffer.read()
    bad = 0
    for i in range(0, len(data) - len(data) % 4, 4):
        chunk = data[i:i + 4]
        if chunk == b"\x00\x02\x00\x01":
            print("1")
        elif chunk == b"\x00\x02\x00\x00":
            print("0")
        else:
            print("?" + chunk.hex())
            bad = 1
    if len(data) % 4:
        print("?" + data[-(len(data) % 4):].hex())
        bad = 1
    sys.exit(bad)


if __name__ == "__main__":
    {"encode": encode, "decode": decode}[sys.argv[1]]()
