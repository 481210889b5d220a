"""A TCP forwarder between a server and its database, to cut or silence the connection on demand.

`cut()` resets every connection and every new one (a database that went away); `black_hole()` keeps
connections open but forwards nothing (a network that went silent); `restore()` forwards again (on
new connections only, after a black hole: the dropped bytes left the old streams out of step).
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.serverproc import free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "open"
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "cut":
                self._reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                self._reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.mode == "open":
                    sink.sendall(data)
        except OSError:
            pass
        self._close(source, reset=False)
        self._close(sink, reset=False)

    def _close(self, sock: socket.socket, *, reset: bool) -> None:
        with self._lock:
            self._sockets.discard(sock)
        if reset:  # RST, not FIN: the peer sees "connection reset"
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        with contextlib.suppress(OSError):  # wakes the pump blocked in recv() on it (close alone does not)
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    def _reset(self, sock: socket.socket) -> None:
        self._close(sock, reset=True)

    def cut(self) -> None:
        self.mode = "cut"
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self._reset(sock)

    def black_hole(self) -> None:
        self.mode = "hole"

    def restore(self) -> None:
        if self.mode == "hole":  # what was dropped left those streams out of step: end them
            self.cut()
        self.mode = "open"

    def close(self) -> None:
        self.cut()
        self._listener.close()
