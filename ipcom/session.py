"""One authenticated connection to an installation: connect, handshake, session state.

The client replaces a `Session` whole on every reconnect, and every new one
starts with a fresh handshake in single-key mode (PROTOCOL.md section 3):
reusing a dropped session's key is what locked the first public client out.
The installation may ask for a session without the cipher, by the short form
of the connect response or by a NonSecure reply; a `Session` then walks the
plaintext masks, so nothing after the handshake needs to know.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from . import cipher, messages
from .errors import IPComConnectionError, IPComProtocolError
from .pacing import Pacer, monotonic
from .protocol import (
    AUTH_REJECTED,
    CONNECT_RESPONSE_LENGTH,
    CONNECT_SHORT_RESPONSE_LENGTH,
    CONNECT_SHORT_RESPONSE_QUIET,
    DEFAULT_BUS,
    DEVICE_MESSAGE_LENGTHS,
    NONSECURE_REPLY,
)

_LOGGER = logging.getLogger(__name__)


class PlaintextRequestedError(IPComConnectionError):
    """The installation answered the connect request with NonSecure (PROTOCOL.md section 3).

    The socket is closed, without a disconnect request; the caller connects
    again and runs the handshake with `plaintext`. A connection error, so a
    caller that does not know it retries as after any failed handshake.
    """


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
    firmware_version: str | None = None
    """What the connect response names as the installation's firmware; the short form none."""
    address: str = ""
    """The "host:port" the session runs on."""
    remote: bool = False
    """Whether that is the installation's remote address (PROTOCOL.md section 1)."""


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
    bus: int = DEFAULT_BUS,
    plaintext: bool = False,
) -> Session:
    """Authenticate on a fresh socket for `bus`; close it on any failure.

    The whole exchange must be done by `deadline` (default: the socket's
    timeout from now); the socket keeps its own timeout for the session.
    With `plaintext` (the connection after a NonSecure reply) the request and
    the response go without the cipher, and so does the session. Raises
    `IPComAuthenticationError` for rejected credentials,
    `PlaintextRequestedError` for a NonSecure reply to an encrypted request,
    and `IPComConnectionError` for anything else that is not a connect
    response in time (a NonSecure reply to a plaintext request included).
    """
    timeout = sock.gettimeout()
    try:
        if deadline is None:
            deadline = _timeout_deadline(timeout)
        request = messages.encode_connect_request(username, password, bus=bus)
        response = _exchange(sock, request, address, deadline, plaintext=plaintext)
        sock.settimeout(timeout)
    except BaseException:
        sock.close()
        raise
    if plaintext or response.plaintext:
        _LOGGER.info(
            "The session with %s is not encrypted: the installation asked for plaintext", address
        )
        masks = cipher.plaintext_masks()
    else:
        masks = cipher.dual_key_masks(response.public_key)
    return Session(
        number=number,
        sock=sock,
        masks=masks,
        decoder=messages.StreamDecoder(masks, DEVICE_MESSAGE_LENGTHS),
        poll_bytes=cipher.encrypt(messages.encode_status_request(), masks),
        pacer=pacer,
        last_received=monotonic(),
        firmware_version=response.firmware_version,
        address=address,
    )


def _timeout_deadline(timeout: float | None) -> Deadline:
    """The deadline a socket's timeout sets, counted from now; a blocking socket sets none."""
    if timeout is None:
        raise ValueError("a handshake needs a deadline or a socket with a timeout")
    return Deadline.after(timeout)


def _exchange(
    sock: socket.socket, request: bytes, address: str, deadline: Deadline, *, plaintext: bool
) -> messages.ConnectResponse:
    """Send the connect request and read its answer by `deadline`, both single-key or plain."""
    masks = cipher.plaintext_masks() if plaintext else cipher.single_key_masks()
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not _time_left(sock, deadline):
            raise _late(address, deadline, 0)
        sock.sendall(cipher.encrypt(request, masks))
        response = read_connect_response(sock, deadline, address)
        if response == NONSECURE_REPLY:
            raise _nonsecure(address, plaintext=plaintext)
        return messages.decode_connect_response(response, masks)
    except IPComProtocolError as err:
        raise IPComConnectionError(f"handshake with {address} failed: {err}") from err
    except TimeoutError as err:
        raise _late(address, deadline, 0) from err
    except OSError as err:
        raise IPComConnectionError(f"handshake with {address} failed: {err}") from err


def _nonsecure(address: str, *, plaintext: bool) -> IPComConnectionError:
    """The error for a NonSecure reply: connect again in plaintext, or give up if that was it."""
    if plaintext:
        return IPComConnectionError(
            f"handshake with {address} failed: the installation asked for a plaintext session "
            f"again on the plaintext connection"
        )
    return PlaintextRequestedError(f"{address} asked for a plaintext session")


def read_connect_response(sock: socket.socket, deadline: Deadline, address: str) -> bytes:
    """Read the answer to the connect request, as it came off the wire.

    That is the 135-byte connect response; its 3-byte short form, when a
    first read returned just those bytes and nothing followed for a moment
    (`_stays_quiet`); the NonSecure bytes; or the rejection bytes and the
    close after them. Raises `IPComConnectionError` when `deadline` passes
    first, however steadily the bytes were coming, and `IPComProtocolError`
    when the device closes before any of these is whole.
    """
    received = b""
    short_form = False
    while len(received) < CONNECT_RESPONSE_LENGTH and received != NONSECURE_REPLY:
        chunk = _receive_by(sock, CONNECT_RESPONSE_LENGTH - len(received), deadline)
        if chunk is None:
            if received == AUTH_REJECTED:
                break
            raise _late(address, deadline, len(received))
        if not chunk:
            break
        received += chunk
        if len(chunk) == len(received) == CONNECT_SHORT_RESPONSE_LENGTH:
            short_form = _stays_quiet(sock, deadline)
            if short_form:
                break
    whole = short_form or len(received) == CONNECT_RESPONSE_LENGTH
    if not whole and received not in (AUTH_REJECTED, NONSECURE_REPLY):
        raise IPComProtocolError(
            f"connection closed after {len(received)} bytes of the "
            f"{CONNECT_RESPONSE_LENGTH}-byte connect response"
        )
    return received


def _stays_quiet(sock: socket.socket, deadline: Deadline) -> bool:
    """Whether no byte follows for `CONNECT_SHORT_RESPONSE_QUIET` (or until `deadline`).

    The vendor takes what one read returns as the whole response; a pause
    after it is what tells a short form from a longer response that TCP split
    there. A device that closes has nothing more to send either. Only peeks:
    a byte that does come stays for the next read.
    """
    wait = min(CONNECT_SHORT_RESPONSE_QUIET, deadline.remaining())
    if wait <= 0:
        return True
    sock.settimeout(wait)
    try:
        return not sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True


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
