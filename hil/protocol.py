"""The wire protocol between the host bridge and a device agent (docs/hil-protocol.md).

One framing for every transport (TCP, pty, UART, USB CDC)::

    frame = COBS(header || body || [HMAC-SHA256] || CRC-32) || 0x00

COBS removes every zero byte, so 0x00 marks frame boundaries and a receiver that
sees garbage drops bytes until the next 0x00 and resumes. The 28-byte header is a
fixed little-endian struct; the body is a 4-byte length, a JSON object with the
message's fields (never pickle) and raw little-endian tensor bytes described in it by
name, dtype, shape, offset and size. With a session key every frame carries an
HMAC-SHA256 over header and body. Messages larger than the negotiated payload are
sent as fragments sharing a transfer id.

This module needs only the standard library and numpy: the agent runs on a device.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

MAGIC = 0xB7
VERSION = 1
HEADER = struct.Struct("<BBBBIIIIHHI")
MAX_FRAME = 1 << 20  # bytes of body in one frame
MAX_MESSAGE = 1 << 30  # a whole (reassembled) message: models and tensors
FLAG_AUTH = 1
FLAG_MORE = 2


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


@dataclass(slots=True)
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


def encode_body(msg: Message) -> bytes:
    """JSON fields plus a table of the raw tensors and blobs that follow."""
    table = []
    chunks: list[memoryview] = []
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
    return b"".join([struct.pack("<I", len(head)), head, *chunks])


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
        if array.size != int(np.prod(shape)):
            raise ProtocolError(
                f"tensor {item['name']!r} has {array.size} values, shape says {shape}"
            )
        msg.tensors[item["name"]] = array.reshape(shape)
    return msg


# -- frames -----------------------------------------------------------------


@dataclass(slots=True)
class Codec:
    """Turns messages into frames and back, for one session (key, session id).

    ``stream=True`` (TCP) delimits frames by a 4-byte length instead of COBS: a reliable
    stream needs no resynchronisation, and stuffing a megabyte in Python costs
    milliseconds. Serial links keep COBS.
    """

    session: int = 0
    key: bytes | None = None
    max_frame: int = MAX_FRAME
    stream: bool = False
    _next_transfer: int = 1

    def frames(self, msg: Message) -> list[bytes]:
        """The wire frames of ``msg`` (several if it is fragmented)."""
        body = encode_body(msg)
        if len(body) > MAX_MESSAGE:
            raise ProtocolError(f"message of {len(body)} bytes exceeds {MAX_MESSAGE}")
        pieces = [body[i : i + self.max_frame] for i in range(0, len(body), self.max_frame)] or [
            b""
        ]
        transfer = self._next_transfer
        self._next_transfer += 1
        out = []
        for index, piece in enumerate(pieces):
            flags = (FLAG_AUTH if self.key else 0) | (FLAG_MORE if index < len(pieces) - 1 else 0)
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
                len(piece),
            )
            parts = [header, piece]
            if self.key:
                mac = hmac.new(self.key, header, hashlib.sha256)
                mac.update(piece)
                parts.append(mac.digest())
            crc = 0
            for part in parts:
                crc = zlib.crc32(part, crc)
            parts.append(struct.pack("<I", crc))
            if self.stream:  # one copy of the piece, straight into the frame
                size = sum(len(part) for part in parts)
                out.append(b"".join([struct.pack("<I", size), *parts]))
            else:
                out.append(cobs_encode(b"".join(parts)) + b"\x00")
        return out

    def parse(self, frame: bytes) -> tuple[tuple[int, ...], memoryview]:
        """(header fields, body piece) of one frame without its delimiter; ProtocolError if bad."""
        raw = memoryview(frame if self.stream else cobs_decode(frame))
        if len(raw) < HEADER.size + 4:
            raise ProtocolError("frame shorter than a header")
        signed, crc = raw[:-4], raw[-4:]
        if struct.unpack("<I", crc)[0] != zlib.crc32(signed):
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
    """Collects frames from a byte stream into messages; bad frames are reported, then skipped."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.buffer = bytearray()
        self.partial: dict[int, list[memoryview]] = {}
        self.errors: list[str] = []

    def feed(self, data: bytes) -> list[Message]:
        """Messages completed by ``data``; frame errors land in ``errors`` (and resync)."""
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
        limit = 2 * MAX_FRAME + 1024
        if self.codec.stream:
            if len(self.buffer) < 4:
                return None
            (size,) = struct.unpack_from("<I", self.buffer)
            if size > limit:
                self.errors.append(f"frame of {size} bytes exceeds the limit; stream reset")
                self.buffer.clear()
                return None
            if len(self.buffer) < 4 + size:
                return None
            frame = bytes(memoryview(self.buffer)[4 : 4 + size])
            del self.buffer[: 4 + size]
            return frame
        end = self.buffer.find(b"\x00")
        if end < 0:
            if len(self.buffer) > limit:
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


def session_key(token: str, host_nonce: bytes, device_nonce: bytes) -> bytes:
    """The per-session HMAC key derived from the shared token and both nonces."""
    return hmac.new(
        token.encode(), b"edgesim-hil" + host_nonce + device_nonce, hashlib.sha256
    ).digest()
