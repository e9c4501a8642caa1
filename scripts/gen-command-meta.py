#!/usr/bin/env python3
"""Regenerates crates/core/src/commands/redis-commands.json from Debian's redis-server.

The file holds, for every command of the reference Redis (7.0.15 on Debian 12), what
`COMMAND INFO` and `COMMAND DOCS` reply in RESP3: flags, ACL categories, key specs, tips,
subcommands and documentation. Strata answers COMMAND from it for the commands it
implements, so client libraries that route by key specs or read the docs see what Redis
says. Behaviour never comes from this file: the command table in `commands/mod.rs` is
checked against it by a unit test (arity, write/read flags, key positions).

Usage: scripts/gen-command-meta.py [redis-server binary]   (starts it on a free port)

JSON shape of a RESP3 value: bulk string -> string, integer -> number, null -> null,
array -> list, simple string -> {"+": text}, set -> {"~": [...]}, map -> {"%": [[k, v], ...]}.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "core", "src", "commands",
                   "redis-commands.json")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self.line()
        t, rest = chr(line[0]), line[1:].decode()
        if t == "+":
            return {"+": rest}
        if t == "-":
            raise RuntimeError(rest)
        if t == ":":
            return int(rest)
        if t == "$":
            return self.exact(int(rest)).decode()
        if t == "_":
            return None
        if t == "*":
            return [self.read() for _ in range(int(rest))]
        if t == "~":
            return {"~": [self.read() for _ in range(int(rest))]}
        if t == "%":
            return {"%": [[self.read(), self.read()] for _ in range(int(rest))]}
        raise RuntimeError("unexpected reply type " + t)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "redis-server"
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen([binary, "--port", str(port), "--dir", d, "--save", "",
                                 "--appendonly", "no"], stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    c = Conn(port)
                    break
                except OSError:
                    time.sleep(0.05)
            c.send("HELLO", "3")
            version = dict((k, v) for k, v in c.send("HELLO", "3")["%"])["version"]
            # Subcommands (container|sub) are nested in their container's INFO and DOCS.
            names = sorted(n for n in c.send("COMMAND", "LIST") if "|" not in n)
            commands = {}
            for name in names:
                info = c.send("COMMAND", "INFO", name)[0]
                docs = c.send("COMMAND", "DOCS", name)["%"]
                commands[name] = {"info": info, "docs": docs[0][1] if docs else None}
        finally:
            proc.terminate()
            proc.wait()
    with open(OUT, "w") as f:
        json.dump({"redis_version": version, "commands": commands}, f, separators=(",", ":"),
                  sort_keys=True)
        f.write("\n")
    print(f"{len(commands)} commands of Redis {version} -> {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
