"""The device agent: runs ONNX partitions for one host, over TCP or a serial port.

    python -m hil.agent [--listen 127.0.0.1:7070] [--token T] [--serial PORT --baud N]
                        [--cache DIR] [--threads N] [--allow-faults] [--respawn]

Needs only numpy, onnxruntime and (for serial ports) pyserial: nothing here imports
simpy, scipy or pydantic. Binding anything but loopback requires ``--token``; with a
token every frame after the handshake is authenticated. Models arrive by content hash
and are cached on disk, so a reconnecting host need not send them again. A retried
request (same ``req_id`` from the same host session) is answered from a cache of recent
results, never run twice; another host (or a reconnected one) gets its own ids.
Faults (crash, hang, slow, drop) are accepted only with ``--allow-faults``. With
``--respawn`` a supervisor runs the agent as its child and starts it again, on the same
port, whenever it exits abnormally (a crash fault, say); the host sees a new nonce and
loads its partitions again.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import onnxruntime as ort

from hil.protocol import (
    VERSION,
    Codec,
    ErrorCode,
    Kind,
    Message,
    ProtocolError,
    Reassembler,
    session_key,
)
from hil.transport import (
    FdTransport,
    SerialTransport,
    TcpTransport,
    Transport,
    TransportError,
    send_message,
)

log = logging.getLogger("edgesim.agent")
RECENT = 64


class Closed(Exception):
    """The host said goodbye, or a fault dropped the link."""


class Agent:
    """The state of one agent process: its identity, models and recent results."""

    def __init__(self, cache: Path, threads: int, token: str | None, allow_faults: bool) -> None:
        self.nonce = os.urandom(8)  # new at every start: a host sees a restart
        self.started = time.monotonic()
        self.cache = cache
        self.threads = threads
        self.token = token
        self.allow_faults = allow_faults
        self.models: dict[str, ort.InferenceSession] = {}
        self.recent: OrderedDict[tuple[bytes, str, int], Message] = OrderedDict()
        self.host = b""  # the connected host's nonce: request ids are its own
        self.delay = 0.0
        self.refuse_until = 0.0  # a 'drop' fault: no connections before then
        self.loaded: dict[str, tuple[str, int]] = {}  # model id -> (sha256, threads)
        self.outputs: dict[str, list[str]] = {}  # model id -> output names

    # -- serving one connection --------------------------------------------------

    def serve(self, transport: Transport) -> None:
        """Answer one host until it leaves, the link fails, or authentication fails."""
        codec = Codec(stream=isinstance(transport, TcpTransport))
        reader = Reassembler(codec)
        self._key: bytes | None = None
        try:
            while True:
                for msg in reader.pull(transport, 1.0):
                    try:
                        replies = self.handle(msg, codec)
                    except _Reject as reject:
                        send_message(transport, codec, reject.reply)
                        raise Closed("authentication failed") from None
                    for reply in replies:
                        send_message(transport, codec, reply)
                    if self._key is not None:  # after the (unsigned) HELLO_ACK
                        codec.key, self._key = self._key, None
                while reader.errors:
                    problem = reader.errors.pop(0)
                    log.warning("bad frame from %s: %s", transport.address, problem)
                    error = Message(
                        Kind.ERROR, {"code": int(ErrorCode.BAD_FRAME), "message": problem}
                    )
                    send_message(transport, codec, error)
                    if codec.stream:  # a reliable stream out of step cannot resynchronise
                        raise Closed(f"stream out of step: {problem}")
        except (Closed, TransportError) as exc:
            log.info("connection %s ended: %s", transport.address, exc)

    def handle(self, msg: Message, codec: Codec) -> list[Message]:
        handler = getattr(self, f"on_{msg.kind.name.lower()}", None)
        if handler is None:
            return [self.error(msg, ErrorCode.UNKNOWN_TYPE, f"unexpected {msg.kind.name}")]
        try:
            reply: Message | None = handler(msg, codec)
        except ProtocolError as exc:
            return [self.error(msg, ErrorCode.BAD_FRAME, str(exc))]
        if reply is None:
            return []
        reply.ref = msg.seq
        return [reply]

    def error(self, msg: Message, code: ErrorCode, text: str) -> Message:
        return Message(Kind.ERROR, {"code": int(code), "message": text}, ref=msg.seq)

    # -- messages ---------------------------------------------------------------

    def on_hello(self, msg: Message, codec: Codec) -> Message:
        versions = msg.fields.get("versions", [])
        if VERSION not in versions:
            return self.error(
                msg, ErrorCode.UNSUPPORTED_VERSION, f"agent speaks {VERSION}, host {versions}"
            )
        host_nonce = bytes.fromhex(msg.fields.get("nonce", ""))
        self.host = host_nonce
        if self.token is not None:
            proof = hmac.new(self.token.encode(), host_nonce, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(proof, str(msg.fields.get("proof", ""))):
                reply = self.error(msg, ErrorCode.AUTH_FAILED, "wrong or missing token")
                raise _Reject(reply)
        codec.session = int.from_bytes(host_nonce[:2] + self.nonce[:2], "little")
        codec.digest = bool(msg.fields.get("digest", True)) or not codec.stream
        reply = Message(
            Kind.HELLO_ACK,
            {
                "version": VERSION,
                "nonce": self.nonce.hex(),
                "session": codec.session,
                "device": self.info(),
                "max_frame": codec.max_frame,
                "digest": codec.digest,
            },
        )
        if self.token is not None:
            self._key = session_key(self.token, host_nonce, self.nonce)
            reply.fields["auth"] = True
        return reply

    def info(self) -> dict[str, Any]:
        return {
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "system": platform.system(),
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "providers": ort.get_available_providers(),
            "cores": os.cpu_count(),
            "threads": self.threads,
            "power": _power(),
        }

    def on_clock_req(self, msg: Message, codec: Codec) -> Message:
        received = time.monotonic_ns()
        return Message(
            Kind.CLOCK_RESP, {"t1": msg.fields["t1"], "t2": received, "t3": time.monotonic_ns()}
        )

    def on_heartbeat(self, msg: Message, codec: Codec) -> Message:
        return Message(
            Kind.HEARTBEAT_ACK,
            {"uptime": time.monotonic() - self.started, "models": sorted(self.models)},
        )

    def on_load_model(self, msg: Message, codec: Codec) -> Message:
        digest = str(msg.fields["sha256"])
        path = self.cache / f"{digest}.onnx"
        if "model" in msg.blobs:
            data = msg.blobs["model"]
            if hashlib.sha256(data).hexdigest() != digest:
                return self.error(msg, ErrorCode.BAD_FRAME, "model bytes do not match their sha256")
            self.cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        elif not path.exists():
            return self.error(
                msg, ErrorCode.NO_SUCH_MODEL, f"model {digest[:12]} is not cached here"
            )
        start = time.perf_counter()
        threads = int(msg.fields.get("threads", self.threads))
        model_id = str(msg.fields.get("model_id", digest))
        if self.loaded.get(model_id) != (digest, threads):  # a reconnecting host finds it loaded
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            try:
                session = ort.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own exception types
                return self.error(msg, ErrorCode.ORT_ERROR, str(exc))
            self.models[model_id] = session
            self.outputs[model_id] = [o.name for o in session.get_outputs()]
            self.loaded[model_id] = (digest, threads)
        session = self.models[model_id]
        return Message(
            Kind.LOAD_ACK,
            {
                "model_id": model_id,
                "load_seconds": time.perf_counter() - start,
                "inputs": [_io(i) for i in session.get_inputs()],
                "outputs": [_io(o) for o in session.get_outputs()],
            },
        )

    def on_infer(self, msg: Message, codec: Codec) -> Message:
        received = time.monotonic_ns()
        model_id, req = str(msg.fields["model_id"]), int(msg.fields["req_id"])
        key = (self.host, model_id, req)
        if key in self.recent:  # a retry of this host's request
            return self.recent[key]
        session = self.models.get(model_id)
        if session is None:
            return self.error(msg, ErrorCode.NO_SUCH_MODEL, f"model {model_id!r} is not loaded")
        if self.delay:
            time.sleep(self.delay)
        started = time.monotonic_ns()
        try:
            outputs = session.run(None, msg.tensors)
        except Exception as exc:  # onnxruntime raises its own exception types
            return self.error(msg, ErrorCode.ORT_ERROR, str(exc))
        ended = time.monotonic_ns()
        reply = Message(
            Kind.INFER_RESULT,
            {
                "req_id": req,
                "model_id": model_id,
                "t_recv": received,
                "t_start": started,
                "t_end": ended,
                "t_send": time.monotonic_ns(),
            },
            tensors=dict(zip(self.outputs[model_id], outputs, strict=True)),
        )
        self.recent[key] = reply
        while len(self.recent) > RECENT:
            self.recent.popitem(last=False)
        return reply

    def on_profile(self, msg: Message, codec: Codec) -> Message:
        from models.measure import device_profile

        model_id = str(msg.fields["model_id"])
        if model_id not in self.models:
            return self.error(msg, ErrorCode.NO_SUCH_MODEL, f"model {model_id!r} is not loaded")
        path = self.cache / f"{msg.fields['sha256']}.onnx"
        f = msg.fields
        threads = int(f.get("threads", self.threads))
        result = device_profile(
            path.read_bytes(),
            model_id,
            list(f["nodes"]),
            threads,
            int(f.get("runs", 20)),
            dict(f["ops"]),
            dict(f["producers"]),
        )
        result["device"] |= self.info()
        return Message(Kind.PROFILE_RESULT, {"profile": result})

    def on_fault(self, msg: Message, codec: Codec) -> Message | None:
        if not self.allow_faults:
            return self.error(msg, ErrorCode.FAULTS_DISABLED, "start the agent with --allow-faults")
        mode = msg.fields.get("mode")
        if mode == "crash":
            log.warning("fault: crash")
            os._exit(3)
        if mode == "hang":
            time.sleep(float(msg.fields.get("seconds", 3600)))
            return None
        if mode == "slow":
            self.delay = float(msg.fields.get("seconds", 0.0))
            return Message(Kind.HEARTBEAT_ACK, {"delay": self.delay})
        if mode == "drop" and not codec.stream:  # a serial line cannot close: go silent
            time.sleep(float(msg.fields.get("seconds", 0.0)))
            return None
        if mode == "drop":  # close the link; refuse new ones for ``seconds``
            self.refuse_until = time.monotonic() + float(msg.fields.get("seconds", 0.0))
            raise Closed("fault: drop")
        return self.error(msg, ErrorCode.BAD_FRAME, f"unknown fault {mode!r}")

    def on_bye(self, msg: Message, codec: Codec) -> Message | None:
        raise Closed("bye")


def _io(arg: Any) -> dict[str, Any]:
    return {"name": arg.name, "shape": arg.shape, "type": arg.type}


class _Reject(Exception):
    def __init__(self, reply: Message) -> None:
        self.reply = reply


def _power() -> dict[str, float] | None:
    """Instantaneous rail power (W) from a Jetson's INA3221 monitor, where the board has one."""
    rails = {}
    for root in Path("/sys/bus/i2c/drivers/ina3221").glob("*/hwmon/hwmon*"):
        for label in root.glob("in*_label"):
            index = label.name[2]
            volts, amps = root / f"in{index}_input", root / f"curr{index}_input"
            try:
                rails[label.read_text().strip()] = (
                    int(volts.read_text()) * int(amps.read_text()) * 1e-6
                )
            except (OSError, ValueError):
                continue
    return rails or None


def run_connection(agent: Agent, transport: Transport) -> None:
    try:
        agent.serve(transport)
    finally:
        transport.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgesim-agent", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--listen", default="127.0.0.1:7070", help="HOST:PORT (port 0: any free one)"
    )
    parser.add_argument("--serial", help="serve a serial port instead (a device or pyserial URL)")
    parser.add_argument("--baud", type=int, default=921600)
    parser.add_argument("--token", help="shared secret; required to bind beyond loopback")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edgesim" / "agent")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--allow-faults", action="store_true")
    parser.add_argument("--once", action="store_true", help="exit after the first host leaves")
    parser.add_argument(
        "--respawn", action="store_true", help="restart the agent whenever it exits abnormally"
    )
    parser.add_argument("--respawn-delay", type=float, default=0.5, metavar="SECONDS")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="edgesim-agent: %(message)s", stream=sys.stderr)
    if args.respawn:
        child = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--respawn"]
        return supervise(child, args.respawn_delay, pin_port=not args.serial)
    agent = Agent(args.cache, args.threads, args.token, args.allow_faults)
    if args.serial:
        transport: Transport = (
            FdTransport(int(args.serial[3:]), args.serial)
            if args.serial.startswith("fd:")
            else SerialTransport(args.serial, args.baud)
        )
        print(f"serving {transport.address}", flush=True)
        run_connection(agent, transport)
        return 0
    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1") and not args.token:
        parser.error(f"--listen {args.listen}: binding beyond loopback requires --token")
    server = socket.create_server((host, int(port)))
    bound = server.getsockname()[1]
    print(f"listening on {host}:{bound}", flush=True)
    while True:
        conn, peer = server.accept()
        run_connection(agent, TcpTransport(conn, f"tcp://{peer[0]}:{peer[1]}"))
        if args.once:
            return 0
        pause = agent.refuse_until - time.monotonic()
        if pause > 0:  # a 'drop' fault: unreachable, as if the link were down
            server.close()
            time.sleep(pause)
            server = socket.create_server((host, bound))


def supervise(argv: list[str], delay: float, pin_port: bool) -> int:
    """Run the agent with ``argv`` as a child process and start it again ``delay`` seconds
        after it exits abnormally; 0 when it exits cleanly (``--once``), its status when the
    first start fails before serving. The first start's
        ``listening on HOST:PORT`` line is passed on, and later starts reuse that port (so
        ``--listen 127.0.0.1:0`` keeps the port it got). SIGTERM and SIGINT stop the child
        too; on Linux the child also dies with the supervisor."""
    signal.signal(signal.SIGTERM, _stop)
    pinned: list[str] = []
    starts = 0
    while True:
        command = [sys.executable, "-m", "hil.agent", *argv, *pinned]
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        if starts == 0:
            if not line:  # it never started (bad arguments, port taken): say so once
                return child.wait() or 1
            print(line, end="", flush=True)
            if pin_port and line.startswith("listening on "):
                pinned = ["--listen", line.removeprefix("listening on ").strip()]
        starts += 1
        try:
            code = child.wait()
        except (KeyboardInterrupt, SystemExit):
            child.terminate()
            child.wait()
            return 0
        if code == 0:
            return 0
        log.warning("agent exited with status %s; starting it again (%d)", code, starts)
        time.sleep(delay)


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the supervisor dies (Linux; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
