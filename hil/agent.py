"""The device agent: runs ONNX partitions for one host, over TCP or a serial port.

    python -m hil.agent [--listen 127.0.0.1:7070] [--token-file F] [--serial PORT --baud N]
                        [--cache DIR] [--threads N] [--allow-faults] [--respawn]
    python3 edgesim-agent.pyz …    (the same, from the bundle ``edgesim hil bundle`` writes)

Runs on Python 3.8 or later with only numpy, onnxruntime and (for serial ports) pyserial:
of the project it imports ``hil.agent``, ``hil.protocol``, ``hil.transport``,
``hil.device_info``, ``hil.supervisor`` and, to profile, ``models.measure`` (the list the
bundle holds, :data:`hil.bundle.AGENT_MODULES`). Binding anything but loopback requires
a token (``--token-file``, ``$EDGESIM_AGENT_TOKEN`` or ``--token``, which ``ps`` shows);
with a token every frame after the handshake is authenticated. Models arrive by content
hash and are cached on disk, so a reconnecting host need not send them again; a model is
written whole or not at all. A retried request (same ``req_id`` from the same host
session) is answered from a cache of recent results, never run twice; another host (or a
reconnected one) gets its own ids. Faults (crash, hang, slow, drop) are accepted only
with ``--allow-faults``. With ``--respawn`` a supervisor runs the agent as its child and
starts it again, on the same port, whenever it exits abnormally (a crash fault, say);
the host sees a new nonce and loads its partitions again. SIGTERM ends the agent
cleanly: connections closed, exit status 0. Logs go to stderr, with journald's priority
prefixes under systemd.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import logging
import os
import signal
import socket
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import onnxruntime as ort

from hil.device_info import describe, missing_apis, version
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
from hil.supervisor import supervise
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
        for stale in cache.glob("*.tmp"):  # a write cut short by a power loss or SIGKILL
            stale.unlink()

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
        return describe(self.threads)

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
            tmp = path.with_name(f"{digest}.{os.getpid()}.tmp")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, path)  # whole or not at all, even when SIGTERM comes
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
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
            # the session's own output names and values: always as many (strict= is 3.10+)
            tensors=dict(zip(self.outputs[model_id], outputs)),  # noqa: B905
        )
        self.recent[key] = reply
        while len(self.recent) > RECENT:
            self.recent.popitem(last=False)
        return reply

    def on_profile(self, msg: Message, codec: Codec) -> Message:
        model_id = str(msg.fields["model_id"])
        if model_id not in self.models:
            return self.error(msg, ErrorCode.NO_SUCH_MODEL, f"model {model_id!r} is not loaded")
        lacking = [m for m in missing_apis() if "profile" in m]
        if lacking:  # an old onnxruntime: inference works, per-layer profiling does not
            return self.error(msg, ErrorCode.ORT_ERROR, "cannot profile: " + "; ".join(lacking))
        from models.measure import device_profile

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
        result["device"].update(self.info())
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


def run_connection(agent: Agent, transport: Transport) -> None:
    try:
        agent.serve(transport)
    finally:
        transport.close()


TOKEN_ENV = "EDGESIM_AGENT_TOKEN"
PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


class _JournalFormatter(logging.Formatter):
    """``<N>message``: journald reads the syslog priority from the prefix."""

    def format(self, record: logging.LogRecord) -> str:
        return f"<{PRIORITY.get(record.levelno, 2)}>{super().format(record)}"


def setup_logging() -> None:
    """Log lines to stderr; under systemd (``$JOURNAL_STREAM`` set) with the priority
    prefix journald keeps as each line's level, without a timestamp of our own."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("edgesim-agent: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


class Stop(BaseException):
    """SIGTERM: end cleanly. A BaseException, so no handler of onnxruntime's errors
    swallows it."""


def _terminate(signum: int, frame: Any) -> None:
    raise Stop()


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgesim-agent", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--listen", default="127.0.0.1:7070", help="HOST:PORT (port 0: any free one)"
    )
    parser.add_argument("--serial", help="serve a serial port instead (a device or pyserial URL)")
    parser.add_argument("--baud", type=int, default=921600)
    parser.add_argument(
        "--token", help=f"shared secret (ps shows it: prefer --token-file or ${TOKEN_ENV})"
    )
    parser.add_argument("--token-file", type=Path, help="read the shared secret from this file")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edgesim" / "agent")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--allow-faults", action="store_true")
    parser.add_argument("--once", action="store_true", help="exit after the first host leaves")
    parser.add_argument(
        "--respawn", action="store_true", help="restart the agent whenever it exits abnormally"
    )
    parser.add_argument("--respawn-delay", type=float, default=0.5, metavar="SECONDS")
    parser.add_argument(
        "--version", action="version", version=f"edgesim-agent {version()} (protocol {VERSION})"
    )
    return parser


def token_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str | None:
    """The shared secret: ``--token``, ``--token-file`` or the environment, in that order."""
    if args.token is not None and args.token_file is not None:
        parser.error("--token and --token-file: give one")
    if args.token_file is not None:
        try:
            token: str = args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            parser.error(f"--token-file {args.token_file}: cannot read it ({exc})")
        if not token:
            parser.error(f"--token-file {args.token_file}: the file is empty")
        return token
    given: str | None = args.token
    return given or os.environ.get(TOKEN_ENV) or None


def main(argv: list[str] | None = None) -> int:
    parser = arguments()
    args = parser.parse_args(argv)
    setup_logging()
    if args.respawn:
        child = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--respawn"]
        return supervise(child, args.respawn_delay, pin_port=not args.serial)
    token = token_of(args, parser)
    host, _, port = args.listen.rpartition(":")
    if not args.serial and host not in ("127.0.0.1", "localhost", "::1") and not token:
        parser.error(
            f"--listen {args.listen}: binding beyond loopback requires a token "
            f"(--token-file FILE or ${TOKEN_ENV})"
        )
    signal.signal(signal.SIGTERM, _terminate)
    agent = Agent(args.cache, args.threads, token, args.allow_faults)
    try:
        if args.serial:
            _serve_serial(agent, args.serial, args.baud)
        else:
            _serve_tcp(agent, host, int(port), args.once)
    except (Stop, KeyboardInterrupt):
        log.info("stopped: connections closed")
    return 0


def _serve_serial(agent: Agent, url: str, baud: int) -> None:
    transport: Transport = (
        FdTransport(int(url[3:]), url) if url.startswith("fd:") else SerialTransport(url, baud)
    )
    print(f"serving {transport.address}", flush=True)
    run_connection(agent, transport)


def _serve_tcp(agent: Agent, host: str, port: int, once: bool) -> None:
    server = socket.create_server((host, port))
    bound = server.getsockname()[1]
    print(f"listening on {host}:{bound}", flush=True)
    try:
        while True:
            conn, peer = server.accept()
            run_connection(agent, TcpTransport(conn, f"tcp://{peer[0]}:{peer[1]}"))
            if once:
                return
            pause = agent.refuse_until - time.monotonic()
            if pause > 0:  # a 'drop' fault: unreachable, as if the link were down
                server.close()
                time.sleep(pause)
                server = socket.create_server((host, bound))
    finally:
        server.close()


if __name__ == "__main__":
    sys.exit(main())
