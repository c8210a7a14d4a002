"""Byte transports for the protocol: TCP sockets and serial ports (pyserial).

All offer ``send(parts)`` (one frame given as a list of buffers, written in one call:
on TCP a single ``sendmsg`` with TCP_NODELAY, so tensors go from their own memory to
the socket) and ``read(timeout)`` (whatever arrived, possibly nothing, never blocking
past the deadline: pyserial's ``read`` returns short on a timeout and must be looped by
the caller, which the protocol's reassembler does). TCP adds ``recv_into`` so a frame
lands directly in the buffer that holds its message. Serial ports are opened with
``serial_for_url``, so ``/dev/ttyACM0``, ``socket://host:port`` and ``rfc2217://`` all
work, and the input buffer is flushed on connect (stale bytes corrupt the first frame).
"""

from __future__ import annotations

import os
import select
import socket
import struct
from collections.abc import Sequence
from typing import Protocol

from hil.protocol import Buffer, Codec, Message


class TransportError(ConnectionError):
    """The link to a device failed, naming its address."""


class Transport(Protocol):
    address: str

    def write(self, data: bytes) -> None: ...
    def send(self, parts: Sequence[Buffer]) -> None: ...
    def read(self, timeout: float) -> bytes: ...
    def close(self) -> None: ...


def send_message(transport: Transport, codec: Codec, msg: Message) -> None:
    """Frame ``msg`` and write each frame in one call."""
    for parts in codec.frame_parts(msg):
        transport.send(parts)


SEND_TIMEOUT = 10.0  # seconds a blocked send may wait for a peer that stopped reading


class TcpTransport:
    """A TCP connection. The socket is blocking (no poll before every call, as Python adds
    to sockets with a timeout); reads wait in ``select`` up to their deadline, and sends
    give up after SEND_TIMEOUT through the kernel's own send timeout."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        seconds = int(SEND_TIMEOUT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", seconds, 0))
        self.sock = sock
        self.address = address

    @classmethod
    def connect(cls, host: str, port: int, timeout: float = 5.0) -> TcpTransport:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise TransportError(
                f"tcp://{host}:{port}: cannot connect: {exc.strerror or exc}"
            ) from None
        return cls(sock, f"tcp://{host}:{port}")

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise TransportError(f"{self.address}: send failed: {exc}") from None

    def send(self, parts: Sequence[Buffer]) -> None:
        views = [memoryview(part).cast("B") for part in parts]
        try:
            while views:
                sent = self.sock.sendmsg(views)
                while views and sent >= len(views[0]):
                    sent -= len(views.pop(0))
                if views:
                    views[0] = views[0][sent:]
        except OSError as exc:
            raise TransportError(f"{self.address}: send failed: {exc}") from None

    def read(self, timeout: float) -> bytes:
        buffer = bytearray(1 << 16)
        n = self.recv_into(memoryview(buffer), timeout)
        return bytes(buffer[:n])

    def recv_into(self, view: memoryview, timeout: float) -> int:
        """Bytes received into ``view`` (0 when nothing came within ``timeout``)."""
        try:
            try:  # what is already there, without a select first
                n = self.sock.recv_into(view, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if timeout <= 0 or not select.select([self.sock], [], [], timeout)[0]:
                    return 0
                n = self.sock.recv_into(view)
        except OSError as exc:
            raise TransportError(f"{self.address}: receive failed: {exc}") from None
        if not n:
            raise TransportError(f"{self.address}: connection closed by the peer")
        return n

    def close(self) -> None:
        self.sock.close()


class SerialTransport:
    def __init__(self, url: str, baud: int = 921600) -> None:
        import serial

        try:
            self.port = serial.serial_for_url(url, baudrate=baud, timeout=0, exclusive=True)
        except (serial.SerialException, ValueError) as exc:
            raise TransportError(f"serial://{url}: cannot open: {exc}") from None
        self.port.reset_input_buffer()
        self.address = f"serial://{url}"

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def send(self, parts: Sequence[Buffer]) -> None:
        self.write(b"".join(parts))

    def read(self, timeout: float) -> bytes:
        fd = getattr(self.port, "fd", None)
        if fd is not None:
            select.select([fd], [], [], max(0.0, timeout))
        data = self.port.read(self.port.in_waiting or 1)
        return bytes(data)

    def close(self) -> None:
        self.port.close()


class FdTransport:
    """The master side of a pty (tests and local bridges), by file descriptor."""

    def __init__(self, fd: int, address: str) -> None:
        self.fd = fd
        self.address = address

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            select.select([], [self.fd], [], 5.0)
            n = os.write(self.fd, view)
            view = view[n:]

    def send(self, parts: Sequence[Buffer]) -> None:
        self.write(b"".join(parts))

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            return os.read(self.fd, 1 << 16)
        except OSError as exc:
            raise TransportError(f"{self.address}: {exc}") from None

    def close(self) -> None:
        os.close(self.fd)
