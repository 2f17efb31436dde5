"""A light TCP forwarder into a sandbox server's network namespace, for the benchmark.

The sandbox's own `Server.forward` starts `ip netns exec ... socat` for every connection
(two processes each): right for a few test connections, but at hundreds of concurrent
HTTPS checks the process starts are most of what is measured. This one listens on
127.0.0.1 here and opens each inside connection from a thread that has entered the
server's network namespace once (setns), then relays bytes in threads. Nothing listens
or connects anywhere but loopback (here and inside the namespace).
"""

from __future__ import annotations

import ctypes
import os
import queue
import socket
import threading

CLONE_NEWNET = 0x40000000


class NetnsForwarder:
    def __init__(self, netns: str, inside_port: int) -> None:
        self.netns = netns
        self.inside_port = inside_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(512)
        self.port = self.listener.getsockname()[1]
        self._requests: queue.Queue[queue.Queue[socket.socket | OSError]] = queue.Queue()
        self._closed = False
        ready: queue.Queue[OSError | None] = queue.Queue()
        threading.Thread(target=self._inside, args=(ready,), daemon=True).start()
        err = ready.get(timeout=10)
        if err:
            raise err
        threading.Thread(target=self._accept, daemon=True).start()

    def _inside(self, ready: queue.Queue[OSError | None]) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/var/run/netns/{self.netns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:  # this thread only
                ready.put(OSError(ctypes.get_errno(), f"setns into {self.netns}"))
                return
        finally:
            os.close(fd)
        ready.put(None)
        while not self._closed:
            reply = self._requests.get()
            try:
                reply.put(socket.create_connection(("127.0.0.1", self.inside_port), timeout=10))
            except OSError as e:
                reply.put(e)

    def _accept(self) -> None:
        while not self._closed:
            try:
                outside, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(outside,), daemon=True).start()

    def _serve(self, outside: socket.socket) -> None:
        reply: queue.Queue[socket.socket | OSError] = queue.Queue()
        self._requests.put(reply)
        inside = reply.get()
        if isinstance(inside, OSError):
            outside.close()
            return
        inside.settimeout(None)
        back = threading.Thread(target=_pipe, args=(inside, outside), daemon=True)
        back.start()
        _pipe(outside, inside)
        back.join(30)
        inside.close()
        outside.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass
