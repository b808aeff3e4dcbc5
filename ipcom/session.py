"""One authenticated connection to an installation: connect, handshake, session state.

The client replaces a `Session` whole on every reconnect, and every new one
starts with a fresh handshake in single-key mode (PROTOCOL.md section 3):
reusing a dropped session's key is what locked the first public client out.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from . import cipher, messages
from .errors import IPComConnectionError, IPComProtocolError
from .pacing import Pacer, monotonic
from .protocol import AUTH_REJECTED, CONNECT_RESPONSE_LENGTH, DEVICE_MESSAGE_LENGTHS


@dataclass(eq=False)
class Session:
    """One authenticated connection and what the client counts on it.

    A session is in service while it is the client's current one; the
    client's lifecycle, not the session, says whether the client runs.
    """

    number: int
    sock: socket.socket
    masks: cipher.MaskTable
    decoder: messages.StreamDecoder
    poll_bytes: bytes
    pacer: Pacer
    last_received: float
    """When the last decoded message arrived: bytes that do not decode are no sign of life."""
    synced_at: float | None = None
    """When the session's first snapshot arrived; no frame is built before it."""


@dataclass(frozen=True)
class Deadline:
    """When a connection attempt must be done by, and the limit it came from.

    One deadline bounds the whole attempt (connect, connect request, connect
    response), so a device that answers one byte at a time cannot stretch it
    by a socket timeout per byte; `seconds` is what the error messages name.
    """

    at: float
    """A `pacing.monotonic` time."""
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """The deadline `seconds` from now."""
        return cls(monotonic() + seconds, seconds)

    def remaining(self) -> float:
        """Seconds left; zero or less once the deadline has passed."""
        return self.at - monotonic()


def connect(
    host: str,
    port: int,
    timeout: float,
    register: Callable[[socket.socket], bool],
    *,
    deadline: Deadline | None = None,
) -> socket.socket:
    """Open the TCP connection as `socket.create_connection` does, with a hook.

    Each socket is handed to `register` before it connects, so the client's
    `stop` can shut a connect that would otherwise block for the whole socket
    timeout; when `register` answers False (stopping) the socket is never used.
    Each address gets `timeout` to connect, or only what is left of
    `deadline` when that is less (the name lookup itself is not bounded); the
    socket comes back with `timeout` as its timeout. Raises `IPComConnectionError`.
    """
    errors: list[OSError] = []
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        raise IPComConnectionError(f"cannot connect to {host}:{port}: {err}") from err
    except UnicodeError as err:
        raise IPComConnectionError(
            f"cannot connect to {host}:{port}: {host!r} is not a valid host name"
        ) from err
    for family, kind, protocol, _, address in addresses:
        allowed = timeout
        if deadline is not None:
            allowed = min(timeout, deadline.remaining())
            if allowed <= 0:
                raise IPComConnectionError(
                    f"cannot connect to {host}:{port} within {deadline.seconds:g} s"
                )
        sock = socket.socket(family, kind, protocol)
        if not register(sock):
            sock.close()
            raise IPComConnectionError(f"cannot connect to {host}:{port}: the client is stopping")
        try:
            sock.settimeout(allowed)
            sock.connect(address)
            sock.settimeout(timeout)
        except OSError as err:
            sock.close()
            errors.append(err)
            continue
        return sock
    reason = errors[0] if errors else f"no address found for {host}"
    raise IPComConnectionError(f"cannot connect to {host}:{port}: {reason}")


def handshake(
    sock: socket.socket,
    number: int,
    username: str,
    password: str,
    address: str,
    *,
    pacer: Pacer,
    deadline: Deadline | None = None,
) -> Session:
    """Authenticate on a fresh socket; close it on any failure.

    The whole exchange must be done by `deadline` (default: the socket's
    timeout from now); the socket keeps its own timeout for the session.
    Raises `IPComAuthenticationError` for rejected credentials and
    `IPComConnectionError` for anything else that is not a connect response
    in time.
    """
    timeout = sock.gettimeout()
    try:
        if deadline is None:
            deadline = _timeout_deadline(timeout)
        public_key = _exchange(sock, username, password, address, deadline)
        sock.settimeout(timeout)
    except BaseException:
        sock.close()
        raise
    masks = cipher.dual_key_masks(public_key)
    return Session(
        number=number,
        sock=sock,
        masks=masks,
        decoder=messages.StreamDecoder(masks, DEVICE_MESSAGE_LENGTHS),
        poll_bytes=cipher.encrypt(messages.encode_status_request(), masks),
        pacer=pacer,
        last_received=monotonic(),
    )


def _timeout_deadline(timeout: float | None) -> Deadline:
    """The deadline a socket's timeout sets, counted from now; a blocking socket sets none."""
    if timeout is None:
        raise ValueError("a handshake needs a deadline or a socket with a timeout")
    return Deadline.after(timeout)


def _exchange(
    sock: socket.socket, username: str, password: str, address: str, deadline: Deadline
) -> bytes:
    """Send the connect request and read its answer by `deadline`; the session's public key."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = messages.encode_connect_request(username, password)
        if not _time_left(sock, deadline):
            raise _late(address, deadline, 0)
        sock.sendall(cipher.encrypt(request, cipher.single_key_masks()))
        response = read_connect_response(sock, deadline, address)
        return messages.parse_connect_response(response)
    except IPComProtocolError as err:
        raise IPComConnectionError(f"handshake with {address} failed: {err}") from err
    except TimeoutError as err:
        raise _late(address, deadline, 0) from err
    except OSError as err:
        raise IPComConnectionError(f"handshake with {address} failed: {err}") from err


def read_connect_response(sock: socket.socket, deadline: Deadline, address: str) -> bytes:
    """Read the connect response, or the rejection bytes and the close after them.

    Raises `IPComConnectionError` when `deadline` passes first, however
    steadily the bytes were coming.
    """
    received = bytearray()
    while len(received) < CONNECT_RESPONSE_LENGTH:
        chunk = _receive_by(sock, CONNECT_RESPONSE_LENGTH - len(received), deadline)
        if chunk is None:
            if bytes(received) == AUTH_REJECTED:
                break
            raise _late(address, deadline, len(received))
        if not chunk:
            break
        received += chunk
    if len(received) < CONNECT_RESPONSE_LENGTH and bytes(received) != AUTH_REJECTED:
        raise IPComProtocolError(
            f"connection closed after {len(received)} bytes of the "
            f"{CONNECT_RESPONSE_LENGTH}-byte connect response"
        )
    return bytes(received)


def _time_left(sock: socket.socket, deadline: Deadline) -> bool:
    """Let the socket block only until `deadline`; False when it has passed."""
    remaining = deadline.remaining()
    if remaining <= 0:
        return False
    sock.settimeout(remaining)
    return True


def _receive_by(sock: socket.socket, count: int, deadline: Deadline) -> bytes | None:
    """Up to `count` bytes (empty at the end of the stream), or None once `deadline` passed."""
    if not _time_left(sock, deadline):
        return None
    try:
        return sock.recv(count)
    except TimeoutError:
        return None


def _late(address: str, deadline: Deadline, received: int) -> IPComConnectionError:
    """The error for a connect response that was not complete by the deadline."""
    if not received:
        return IPComConnectionError(
            f"no answer to the connect request from {address} within {deadline.seconds:g} s"
        )
    return IPComConnectionError(
        f"no complete connect response from {address} within {deadline.seconds:g} s "
        f"({received} of its {CONNECT_RESPONSE_LENGTH} bytes arrived)"
    )
