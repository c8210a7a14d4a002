"""The host's side of the protocol: connect to an agent, load, infer, profile, sync clocks.

    agent = AgentClient.connect("tcp://127.0.0.1:7070", token=None)
    model_id = agent.load(onnx_bytes)
    outputs, stamps = agent.infer(model_id, {"input": x})

Every call has a deadline; a late, lost or refused reply raises a :class:`HilError`
subclass naming the device's address. Clock offset is estimated NTP-style: of 16
probes, the quarter with the smallest round trip, offset ((t2 − t1) + (t3 − t4)) / 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from hil.protocol import VERSION, Codec, Kind, Message, Reassembler, session_key
from hil.transport import SerialTransport, TcpTransport, Transport, TransportError, send_message


class HilError(Exception):
    """Something went wrong with a real device."""


class HilTimeout(HilError):
    """A reply did not come in time."""


class HilRefused(HilError):
    """The agent answered with an ERROR."""


class HilTransportError(HilError):
    """The link itself failed."""


@dataclass(frozen=True, slots=True)
class Stamps:
    """Where one inference's time went: host clock for the round trip, device clock for compute."""

    round_trip: float  # seconds, host send to host receive
    compute: float  # seconds on the device, start to end of the run
    device_overhead: float  # seconds on the device outside the run (receive to send)


def open_transport(url: str) -> Transport:
    parts = urlparse(url)
    if parts.scheme == "tcp":
        return TcpTransport.connect(parts.hostname or "127.0.0.1", parts.port or 7070)
    if parts.scheme == "serial":
        return SerialTransport(parts.path or parts.netloc)
    if parts.scheme in ("socket", "rfc2217", "loop"):
        return SerialTransport(url)
    raise HilError(
        f"{url}: unknown device address (tcp://HOST:PORT, serial:///dev/ttyX, socket://...)"
    )


class AgentClient:
    """One connection to one agent."""

    def __init__(
        self,
        transport: Transport,
        token: str | None = None,
        timeout: float = 10.0,
        digest: bool = False,
    ) -> None:
        self.transport = transport
        self.address = transport.address
        stream = isinstance(transport, TcpTransport)
        self.codec = Codec(stream=stream, digest=digest or not stream)
        self.reader = Reassembler(self.codec)
        self.timeout = timeout
        self._seq = itertools.count(1)
        self._req = itertools.count(1)
        self.info: dict[str, Any] = {}
        self.offset_ns = 0
        self._sha: dict[str, str] = {}  # model id -> content hash, for PROFILE
        self._trips: dict[str, deque[float]] = {}  # model id -> recent round trips
        self.poll = True  # hybrid polling for inference replies (see request)
        self._hello(token)

    @classmethod
    def connect(cls, url: str, token: str | None = None, timeout: float = 10.0) -> AgentClient:
        """``url``: ``tcp://HOST:PORT`` (``?digest=1`` adds the data digest), a serial
        device or a pyserial URL."""
        digest = parse_qs(urlparse(url).query).get("digest", ["0"])[-1] not in ("0", "")
        try:
            return cls(open_transport(url), token, timeout, digest)
        except TransportError as exc:
            raise HilTransportError(str(exc)) from None

    # -- plumbing ---------------------------------------------------------------

    def request(
        self, msg: Message, timeout: float | None = None, expect: tuple[float, float] | None = None
    ) -> Message:
        """Send ``msg`` and wait for the reply that answers it.

        ``expect=(start, end)``: seconds after sending between which the reply is likely.
        Inside that window the wait polls instead of sleeping (hybrid polling): a thread
        asleep for the length of an inference takes a quarter to half a millisecond to
        wake up on a virtual machine, more than the rest of the call.
        """
        msg.seq = next(self._seq)
        try:
            send_message(self.transport, self.codec, msg)
            now = time.monotonic()
            deadline = now + (self.timeout if timeout is None else timeout)
            spin_from, spin_to = (now + expect[0], now + expect[1]) if expect else (now, now)
            while True:
                now = time.monotonic()
                left = deadline - now
                if left <= 0:
                    raise HilTimeout(
                        f"{self.address}: no answer to {msg.kind.name} "
                        f"within {timeout or self.timeout:g} s"
                    )
                if now < spin_from:  # asleep until the reply is near
                    wait = min(left, 0.5, spin_from - now)
                elif now < spin_to:  # polling
                    wait = 0.0
                else:
                    wait = min(left, 0.5)
                for reply in self.reader.pull(self.transport, wait):
                    if reply.ref != msg.seq:
                        continue  # a late answer to an earlier, abandoned request
                    if reply.kind == Kind.ERROR:
                        raise HilRefused(
                            f"{self.address}: {reply.fields.get('message')} "
                            f"(code {reply.fields.get('code')})"
                        )
                    return reply
        except TransportError as exc:
            raise HilTransportError(str(exc)) from None

    def _hello(self, token: str | None) -> None:
        nonce = os.urandom(8)
        fields: dict[str, Any] = {
            "versions": [VERSION],
            "nonce": nonce.hex(),
            "digest": self.codec.digest,
        }
        if token is not None:
            fields["proof"] = hmac.new(token.encode(), nonce, hashlib.sha256).hexdigest()
        ack = self.request(Message(Kind.HELLO, fields))
        self.info = dict(ack.fields)
        self.codec.session = int(ack.fields["session"])
        if ack.fields.get("auth"):
            if token is None:
                raise HilRefused(f"{self.address}: the agent requires a token")
            self.codec.key = session_key(token, nonce, bytes.fromhex(ack.fields["nonce"]))

    # -- calls ------------------------------------------------------------------

    @property
    def device_nonce(self) -> str:
        """Changes whenever the agent restarts."""
        return str(self.info["nonce"])

    def heartbeat(self, timeout: float = 2.0) -> dict[str, Any]:
        return dict(self.request(Message(Kind.HEARTBEAT), timeout).fields)

    def sync_clock(self, probes: int = 16) -> tuple[float, float]:
        """(offset, uncertainty) in seconds of the device clock against the host's."""
        samples = []
        for _ in range(probes):
            t1 = time.monotonic_ns()
            r = self.request(Message(Kind.CLOCK_REQ, {"t1": t1}))
            t4 = time.monotonic_ns()
            t2, t3 = int(r.fields["t2"]), int(r.fields["t3"])
            samples.append(((t4 - t1) - (t3 - t2), ((t2 - t1) + (t3 - t4)) / 2))
        samples.sort()
        best = samples[: max(1, len(samples) // 4)]
        self.offset_ns = int(np.median([o for _, o in best]))
        return self.offset_ns * 1e-9, best[0][0] * 0.5e-9

    def load(self, model: bytes, model_id: str | None = None, threads: int = 1) -> str:
        """Send (or, when the agent has it cached, name) a model; returns its id."""
        digest = hashlib.sha256(model).hexdigest()
        model_id = model_id or digest[:16]
        fields = {"sha256": digest, "model_id": model_id, "threads": threads}
        try:
            self.request(Message(Kind.LOAD_MODEL, fields), timeout=60)
        except HilRefused:
            self.request(Message(Kind.LOAD_MODEL, fields, blobs={"model": model}), timeout=120)
        self._sha[model_id] = digest
        return model_id

    def infer(
        self,
        model_id: str,
        inputs: dict[str, np.ndarray],
        req_id: int | None = None,
        timeout: float | None = None,
    ) -> tuple[dict[str, np.ndarray], Stamps]:
        req = next(self._req) if req_id is None else req_id
        recent = self._trips.setdefault(model_id, deque(maxlen=16))
        expect = None
        if self.poll and len(recent) >= 3:  # poll from a little before the fastest recent reply
            trips = sorted(recent)
            expect = (0.9 * trips[0] - 3e-4, trips[len(trips) // 2] * 1.2 + 1e-3)
        sent = time.monotonic_ns()
        msg = Message(Kind.INFER, {"model_id": model_id, "req_id": req}, tensors=inputs)
        r = self.request(msg, timeout, expect)
        back = time.monotonic_ns()
        f = r.fields
        stamps = Stamps(
            (back - sent) * 1e-9,
            (int(f["t_end"]) - int(f["t_start"])) * 1e-9,
            ((int(f["t_send"]) - int(f["t_recv"])) - (int(f["t_end"]) - int(f["t_start"]))) * 1e-9,
        )
        recent.append(stamps.round_trip)
        return dict(r.tensors), stamps

    def profile(
        self, model_id: str, graph: Any, runs: int = 20, threads: int = 1
    ) -> dict[str, Any]:
        """A device profile measured on the agent (``graph``: the model's ONNX ModelProto)."""
        from models.measure import graph_links

        nodes, ops, producers = graph_links(graph)
        fields = {
            "model_id": model_id,
            "sha256": self._sha[model_id],
            "runs": runs,
            "threads": threads,
            "nodes": nodes,
            "ops": ops,
            "producers": producers,
        }
        return dict(self.request(Message(Kind.PROFILE, fields), timeout=600).fields["profile"])

    def fault(self, mode: str, seconds: float = 0.0) -> None:
        """Ask an ``--allow-faults`` agent to crash, hang, slow down or drop the link."""
        msg = Message(Kind.FAULT, {"mode": mode, "seconds": seconds}, seq=next(self._seq))
        send_message(self.transport, self.codec, msg)

    def close(self) -> None:
        with contextlib.suppress(TransportError):
            send_message(self.transport, self.codec, Message(Kind.BYE, seq=next(self._seq)))
        self.transport.close()
