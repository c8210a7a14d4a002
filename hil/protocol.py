"""The wire protocol between the host bridge and a device agent (docs/hil-protocol.md).

Two framings of the same frame::

    serial (pty, UART, USB CDC):  COBS(header || piece || [HMAC-SHA256] || CRC-32) || 0x00
    TCP:                          length || header || piece || [HMAC-SHA256] || CRC-32

COBS removes every zero byte, so 0x00 marks frame boundaries and a receiver that
sees garbage drops bytes until the next 0x00 and resumes. A TCP stream cannot lose
bytes, so it is length-prefixed instead, which lets both ends move tensors without
copying them: a frame is sent as a list of buffers in one ``sendmsg`` and received
straight into the buffer its message will live in. The 28-byte header is a
fixed little-endian struct; the body is a 4-byte length, a JSON object with the
message's fields (never pickle) and raw little-endian tensor bytes described in it by
name, dtype, shape, offset and size. With a session key every frame carries an
HMAC-SHA256 over header and body. Messages larger than the negotiated payload are
sent as fragments sharing a transfer id.

This module needs only the standard library and numpy: the agent runs on a device, under
Python 3.8 or later (so no ``X | Y`` type aliases and no slotted dataclasses here).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Union

import numpy as np

MAGIC = 0xB7
VERSION = 1
HEADER = struct.Struct("<BBBBIIIIHHI")
PREFIX = struct.Struct("<I")  # frame length on a stream
CRC = struct.Struct("<I")
MAC_SIZE = 32
MAX_FRAME = 1 << 20  # bytes of body in one frame
MAX_MESSAGE = 1 << 30  # a whole (reassembled) message: models and tensors
FLAG_AUTH = 1
FLAG_MORE = 2
FLAG_DIGEST = 4  # the CRC covers the tensor and blob bytes too, not only header and JSON

# a Union, not ``bytes | bytearray | memoryview``: the agent runs on Python 3.8 and 3.9,
# where a type alias is evaluated at import
Buffer = Union[bytes, bytearray, memoryview]  # noqa: UP007


class Kind(IntEnum):
    """Message types."""

    HELLO = 1
    HELLO_ACK = 2
    CLOCK_REQ = 3
    CLOCK_RESP = 4
    LOAD_MODEL = 5
    LOAD_ACK = 6
    INFER = 7
    INFER_RESULT = 8
    HEARTBEAT = 9
    HEARTBEAT_ACK = 10
    PROFILE = 11
    PROFILE_RESULT = 12
    FAULT = 13
    ERROR = 14
    BYE = 15


class ErrorCode(IntEnum):
    BAD_FRAME = 1
    BAD_CRC = 2
    UNKNOWN_TYPE = 3
    UNSUPPORTED_VERSION = 4
    NO_SUCH_MODEL = 5
    ORT_ERROR = 6
    TOO_LARGE = 7
    BUSY = 8
    AUTH_FAILED = 9
    FAULTS_DISABLED = 10


class ProtocolError(ValueError):
    """A frame or message that breaks the protocol, with what was wrong."""


@dataclass
class Message:
    """One protocol message: its kind, JSON fields and tensors."""

    kind: Kind
    fields: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)  # raw bytes (model files)
    seq: int = 0
    ref: int = 0  # the seq this answers


# -- COBS -----------------------------------------------------------------


def cobs_encode(data: bytes) -> bytes:
    """Consistent-overhead byte stuffing: no zero bytes in the result.

    Works a zero-free segment at a time (``bytes.split`` runs in C), in 254-byte blocks.
    """
    out = bytearray()
    for segment in data.split(b"\x00"):
        view = memoryview(segment)
        while len(view) >= 254:
            out.append(255)
            out += view[:254]
            view = view[254:]
        out.append(len(view) + 1)
        out += view
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    parts: list[bytes] = []
    i, n = 0, len(data)
    view = memoryview(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ProtocolError("zero byte inside a COBS frame")
        end = i + code
        if end > n:
            raise ProtocolError("truncated COBS block")
        parts.append(view[i + 1 : end].tobytes())
        i = end
        if code < 255 and i < n:
            parts.append(b"\x00")
    return b"".join(parts)


# -- bodies -----------------------------------------------------------------


def encode_body(msg: Message) -> list[Buffer]:
    """JSON fields plus a table of the raw tensors and blobs that follow, as the list of
    buffers to send in order: the tensors' own memory, not copies."""
    table = []
    chunks: list[Buffer] = []
    offset = 0
    for name, array in msg.tensors.items():
        little = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False)
        raw = little.reshape(-1).data.cast("B")  # no copy until the one join below
        dtype = array.dtype.str.lstrip("<>|=")
        table.append(
            {
                "name": name,
                "dtype": dtype,
                "shape": list(array.shape),
                "offset": offset,
                "size": len(raw),
            }
        )
        chunks.append(raw)
        offset += len(raw)
    for name, blob in msg.blobs.items():
        table.append({"name": name, "blob": True, "offset": offset, "size": len(blob)})
        chunks.append(memoryview(blob))
        offset += len(blob)
    head = json.dumps({"fields": msg.fields, "data": table}, separators=(",", ":")).encode()
    return [PREFIX.pack(len(head)), head, *chunks]


ALLOWED_DTYPES = {"f4", "f2", "f8", "i8", "i4", "u1", "i1", "b1"}


def decode_body(kind: Kind, body: bytes | memoryview, seq: int, ref: int) -> Message:
    if len(body) < 4:
        raise ProtocolError("body shorter than its length field")
    (n,) = struct.unpack_from("<I", body)
    if 4 + n > len(body):
        raise ProtocolError("JSON part runs past the body")
    try:
        head = json.loads(bytes(body[4 : 4 + n]))
        fields, table = head["fields"], head["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"bad JSON part: {exc}") from None
    data = memoryview(body)[4 + n :]
    msg = Message(kind, dict(fields), seq=seq, ref=ref)
    for item in table:
        start, size = int(item["offset"]), int(item["size"])
        if start < 0 or size < 0 or start + size > len(data):
            raise ProtocolError(f"data {item.get('name')!r} runs past the body")
        raw = data[start : start + size]
        if item.get("blob"):
            msg.blobs[item["name"]] = bytes(raw)
            continue
        dtype = str(item["dtype"])
        if dtype not in ALLOWED_DTYPES:
            raise ProtocolError(f"dtype {dtype!r} not allowed")
        shape = tuple(int(d) for d in item["shape"])
        array = np.frombuffer(raw, dtype=np.dtype("<" + dtype) if dtype[0] != "b" else np.bool_)
        if array.size != math.prod(shape):
            raise ProtocolError(
                f"tensor {item['name']!r} has {array.size} values, shape says {shape}"
            )
        msg.tensors[item["name"]] = array.reshape(shape)
    return msg


def _head_of(views: list[memoryview], size: int) -> list[memoryview]:
    """The first ``size`` bytes of ``views`` (none if ``size`` ≤ 0)."""
    out = []
    for view in views:
        if size <= 0:
            break
        out.append(view[:size])
        size -= len(view)
    return out


def _split(chunks: list[Buffer], size: int) -> Iterator[list[memoryview]]:
    """Consecutive runs of ``size`` bytes (the last one shorter) across ``chunks``."""
    piece: list[memoryview] = []
    room = size
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        while view:
            take = view[:room]
            piece.append(take)
            view = view[len(take) :]
            room -= len(take)
            if room == 0:
                yield piece
                piece, room = [], size
    if piece:
        yield piece


# -- frames -----------------------------------------------------------------


@dataclass
class Codec:
    """Turns messages into frames and back, for one session (key, session id).

    ``stream=True`` (TCP) delimits frames by a 4-byte length instead of COBS: a reliable
    stream needs no resynchronisation, and stuffing a megabyte in Python costs
    milliseconds. Serial links keep COBS.

    Every frame's CRC-32 covers its header and the message's JSON part (the header
    digest). ``digest=True`` extends it over the raw tensor and blob bytes (the data
    digest): always on a serial line, where bits flip; negotiated on TCP, whose own
    checksum already guards the bytes and where the data digest costs a CRC pass over
    every tensor on both ends (0.2 ms per 600 kB a side here).
    """

    session: int = 0
    key: bytes | None = None
    max_frame: int = MAX_FRAME
    stream: bool = False
    digest: bool = True
    _next_transfer: int = 1

    def frame_parts(self, msg: Message) -> Iterator[list[Buffer]]:
        """The wire frames of ``msg`` (several if it is fragmented), each a list of
        buffers to write in one call."""
        chunks = encode_body(msg)
        size = sum(len(memoryview(c)) for c in chunks)
        if size > MAX_MESSAGE:
            raise ProtocolError(f"message of {size} bytes exceeds {MAX_MESSAGE}")
        pieces = list(_split(chunks, self.max_frame))
        transfer = self._next_transfer
        self._next_transfer += 1
        full = self.digest or not self.stream
        control = len(chunks[0]) + len(chunks[1])  # length field and JSON
        offset = 0
        for index, piece in enumerate(pieces):
            length = sum(len(part) for part in piece)
            flags = (FLAG_AUTH if self.key else 0) | (FLAG_MORE if index < len(pieces) - 1 else 0)
            flags |= FLAG_DIGEST if full else 0
            header = HEADER.pack(
                MAGIC,
                VERSION,
                int(msg.kind),
                flags,
                self.session,
                msg.seq,
                msg.ref,
                transfer,
                index,
                len(pieces),
                length,
            )
            parts: list[Buffer] = [header, *piece]
            if self.key:
                mac = hmac.new(self.key, header, hashlib.sha256)
                for view in piece:
                    mac.update(view)
                parts.append(mac.digest())
            crc = zlib.crc32(header)
            for view in piece if full else _head_of(piece, control - offset):
                crc = zlib.crc32(view, crc)
            for part in parts[1 + len(piece) :]:  # the HMAC, if any
                crc = zlib.crc32(part, crc)
            parts.append(CRC.pack(crc))
            offset += length
            if self.stream:
                yield [PREFIX.pack(sum(len(memoryview(part)) for part in parts)), *parts]
            else:
                yield [cobs_encode(b"".join(parts)) + b"\x00"]

    def frames(self, msg: Message) -> list[bytes]:
        """The wire frames of ``msg`` as bytes (one copy each; for tests and tools)."""
        return [b"".join(parts) for parts in self.frame_parts(msg)]

    def parse(self, frame: bytes) -> tuple[tuple[int, ...], memoryview]:
        """(header fields, body piece) of one COBS frame without its delimiter (always
        fully digested); ProtocolError if bad. Streams are parsed by the Reassembler."""
        raw = memoryview(cobs_decode(frame))
        if len(raw) < HEADER.size + 4:
            raise ProtocolError("frame shorter than a header")
        signed, crc = raw[:-4], raw[-4:]
        if CRC.unpack(crc)[0] != zlib.crc32(signed):
            raise ProtocolError("bad CRC")
        header = HEADER.unpack_from(signed)
        magic, version, _kind, flags = header[:4]
        if magic != MAGIC:
            raise ProtocolError("bad magic")
        if version != VERSION:
            raise ProtocolError(f"unsupported version {version}")
        piece = signed[HEADER.size :]
        if self.key is not None:
            if not flags & FLAG_AUTH or len(piece) < 32:
                raise ProtocolError("unauthenticated frame")
            piece, mac = piece[:-32], piece[-32:]
            check = hmac.new(self.key, signed[: HEADER.size], hashlib.sha256)
            check.update(piece)
            expected = check.digest()
            if not hmac.compare_digest(mac, expected):
                raise ProtocolError("bad authentication code")
        if len(piece) != header[10]:
            raise ProtocolError("payload length does not match the header")
        return header, piece


class Reassembler:
    """Collects frames into messages; bad frames are reported in ``errors`` and skipped.

    ``feed(data)`` takes bytes however they were cut; ``pull(transport, timeout)`` reads a
    transport itself, and on a stream receives each fragment straight into the buffer
    its message's tensors will be views of (one copy, made by the kernel).
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.errors: list[str] = []
        self.buffer = bytearray()  # COBS: bytes up to the next delimiter
        self.partial: dict[int, list[memoryview]] = {}  # COBS: fragments so far
        # stream: a state machine over (prefix + header, piece, trailer)
        self._head = bytearray(PREFIX.size + HEADER.size)
        self._region = memoryview(self._head)  # where the next bytes go
        self._phase = "head"
        self._header: tuple[int, ...] = ()
        self._trailer = bytearray()
        self._piece = memoryview(b"")
        self._pending: _Pending | None = None
        self._drop: str | None = None  # why the frame being read will be dropped
        self._scratch = memoryview(bytearray(1 << 16))

    def feed(self, data: Buffer) -> list[Message]:
        """Messages completed by ``data``; frame errors land in ``errors``."""
        if not self.codec.stream:
            return self._feed_cobs(data)
        out: list[Message] = []
        view = memoryview(data).cast("B")
        while view:
            n = min(len(self._region), len(view))
            self._region[:n] = view[:n]
            view = view[n:]
            msg = self._advance(n)
            if msg is not None:
                out.append(msg)
        return out

    def pull(self, transport: Any, timeout: float) -> list[Message]:
        """Messages from what ``transport`` delivers within ``timeout``; returns as soon as
        one is complete. On a stream, small reads go through a scratch buffer (a header
        and a short message in one call) and large pieces straight into their message."""
        recv_into = getattr(transport, "recv_into", None)
        if not self.codec.stream or recv_into is None:
            return self.feed(transport.read(timeout))
        deadline = time.monotonic() + timeout
        out: list[Message] = []
        while not out:
            if len(self._region) < len(self._scratch):
                n = recv_into(self._scratch, timeout)
                out = self.feed(self._scratch[:n])
            else:
                n = recv_into(self._region, timeout)
                msg = self._advance(n) if n else None
                out = [msg] if msg is not None else []
            timeout = deadline - time.monotonic()
            if not n or timeout <= 0:
                break
        return out

    # -- stream --------------------------------------------------------------------

    def _advance(self, n: int) -> Message | None:
        """``n`` bytes landed in the current region; move on when it is full."""
        self._region = self._region[n:]
        msg = None
        while not self._region:
            try:
                if self._phase == "head":
                    self._start_frame()
                elif self._phase == "piece":
                    self._phase, self._region = "trailer", memoryview(self._trailer)
                else:
                    msg = self._end_frame()
            except ProtocolError as exc:
                self.errors.append(str(exc))
                self._phase, self._region = "head", memoryview(self._head)
        return msg

    def _start_frame(self) -> None:
        (size,) = PREFIX.unpack_from(self._head)
        header = HEADER.unpack_from(self._head, PREFIX.size)
        magic, version, _kind, flags, _s, _seq, _ref, transfer, index, count, length = header
        trailer = CRC.size + (MAC_SIZE if flags & FLAG_AUTH else 0)
        if magic != MAGIC:
            raise ProtocolError("bad magic: stream out of step")
        if size > 2 * MAX_FRAME + 1024 or size != HEADER.size + length + trailer:
            raise ProtocolError(f"frame of {size} bytes does not match its header")
        self._header, self._trailer, self._drop = header, bytearray(trailer), None
        pending = self._pending
        if version != VERSION:
            self._drop = f"unsupported version {version}"
        elif index == 0:
            if count == 0 or count * length > MAX_MESSAGE:
                self._drop = f"message of {count} × {length} bytes is too large"
            else:
                pending = self._pending = _Pending(transfer, count, length)
        elif pending is None or (transfer, index, count) != (
            pending.transfer,
            pending.next,
            pending.count,
        ):
            self._drop = f"fragment {index} of transfer {transfer} out of order"
        elif index >= count or length > pending.stride:
            self._drop = f"fragment {index} of transfer {transfer} longer than the first"
        if self._drop is not None or pending is None:  # read the frame whole, then drop it
            self._pending = None
            pending = _Pending(transfer, 1, length)
        start = pending.next * pending.stride
        self._phase = "piece"
        self._region = memoryview(pending.data)[start : start + length]
        self._piece = self._region

    def _end_frame(self) -> Message | None:
        self._phase, self._region = "head", memoryview(self._head)
        _m, _v, kind, flags, _s, seq, ref, _t, _i, count, length = self._header
        if self._drop is not None:
            raise ProtocolError(self._drop)
        pending = self._pending
        assert pending is not None
        signed, piece = memoryview(self._head)[PREFIX.size :], self._piece
        mac, crc = self._trailer[:-4], self._trailer[-4:]
        offset = pending.next * pending.stride
        if pending.next == 0 and length >= PREFIX.size:
            pending.control = PREFIX.size + PREFIX.unpack_from(piece)[0]
        covered = piece if flags & FLAG_DIGEST else piece[: max(0, pending.control - offset)]
        if CRC.unpack(crc)[0] != zlib.crc32(mac, zlib.crc32(covered, zlib.crc32(signed))):
            self._pending = None
            raise ProtocolError("bad CRC")
        if self.codec.key is not None:
            expected = hmac.new(self.codec.key, signed, hashlib.sha256)
            expected.update(piece)
            if not flags & FLAG_AUTH or not hmac.compare_digest(mac, expected.digest()):
                self._pending = None
                raise ProtocolError("unauthenticated frame or bad authentication code")
        pending.next += 1
        pending.size += length
        if flags & FLAG_MORE:
            return None
        self._pending = None
        if pending.next != count:
            raise ProtocolError("fragment count mismatch")
        try:
            kind_enum = Kind(kind)
        except ValueError:
            raise ProtocolError(f"unknown message type {kind}") from None
        return decode_body(kind_enum, memoryview(pending.data)[: pending.size], seq, ref)

    # -- COBS ------------------------------------------------------------------------

    def _feed_cobs(self, data: Buffer) -> list[Message]:
        self.buffer += data
        out: list[Message] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return out
            if not frame:
                continue
            try:
                header, piece = self.codec.parse(frame)
                msg = self._assemble(header, piece)
            except ProtocolError as exc:
                self.errors.append(str(exc))
                continue
            if msg is not None:
                out.append(msg)

    def _next_frame(self) -> bytes | None:
        """The next complete frame's bytes (b"" for an empty one), or None to wait for more."""
        end = self.buffer.find(b"\x00")
        if end < 0:
            if len(self.buffer) > 2 * MAX_FRAME + 1024:
                self.errors.append("oversized frame dropped")
                self.buffer.clear()
            return None
        frame = bytes(self.buffer[:end])
        del self.buffer[: end + 1]
        return frame

    def _assemble(self, header: tuple[int, ...], piece: memoryview) -> Message | None:
        _m, _v, kind, flags, _s, seq, ref, transfer, index, count, _n = header
        try:
            kind_enum = Kind(kind)
        except ValueError:
            raise ProtocolError(f"unknown message type {kind}") from None
        parts = self.partial.setdefault(transfer, [])
        if index != len(parts):
            self.partial.pop(transfer, None)
            raise ProtocolError(f"fragment {index} of transfer {transfer} out of order")
        parts.append(piece)
        if sum(map(len, parts)) > MAX_MESSAGE:
            self.partial.pop(transfer, None)
            raise ProtocolError("message too large")
        if flags & FLAG_MORE:
            return None
        del self.partial[transfer]
        if len(parts) != count:
            raise ProtocolError("fragment count mismatch")
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        return decode_body(kind_enum, body, seq, ref)


@dataclass
class _Pending:
    """A message arriving on a stream: its buffer, filled a fragment at a time."""

    transfer: int
    count: int
    stride: int  # bytes per fragment (the last may be shorter)
    next: int = 0
    size: int = 0
    control: int = PREFIX.size  # bytes of length field and JSON at the start
    data: bytearray = field(init=False)

    def __post_init__(self) -> None:
        self.data = bytearray(self.count * self.stride)


def session_key(token: str, host_nonce: bytes, device_nonce: bytes) -> bytes:
    """The per-session HMAC key derived from the shared token and both nonces."""
    return hmac.new(
        token.encode(), b"edgesim-hil" + host_nonce + device_nonce, hashlib.sha256
    ).digest()
