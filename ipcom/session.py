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
from .errors import IPComAuthenticationError, IPComConnectionError, IPComProtocolError
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


def connect(
    host: str,
    port: int,
    timeout: float,
    register: Callable[[socket.socket], bool],
) -> socket.socket:
    """Open the TCP connection as `socket.create_connection` does, with a hook.

    Each socket is handed to `register` before it connects, so the client's
    `stop` can shut a connect that would otherwise block for the whole socket
    timeout; when `register` answers False (stopping) the socket is never used.
    Raises `IPComConnectionError`.
    """
    errors: list[OSError] = []
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        raise IPComConnectionError(f"cannot connect to {host}:{port}: {err}") from err
    for family, kind, protocol, _, address in addresses:
        sock = socket.socket(family, kind, protocol)
        if not register(sock):
            sock.close()
            raise IPComConnectionError(f"cannot connect to {host}:{port}: the client is stopping")
        try:
            sock.settimeout(timeout)
            sock.connect(address)
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
) -> Session:
    """Authenticate on a fresh socket; close it on any failure.

    Raises `IPComAuthenticationError` for rejected credentials and
    `IPComConnectionError` for anything else that is not a connect response.
    """
    timeout = sock.gettimeout()
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = messages.encode_connect_request(username, password)
        sock.sendall(cipher.encrypt(request, cipher.single_key_masks()))
        response = read_connect_response(sock)
        public_key = messages.parse_connect_response(response)
        masks = cipher.dual_key_masks(public_key)
    except IPComAuthenticationError:
        sock.close()
        raise
    except IPComProtocolError as err:
        sock.close()
        raise IPComConnectionError(f"handshake with {address} failed: {err}") from err
    except TimeoutError as err:
        sock.close()
        raise IPComConnectionError(
            f"no answer to the connect request from {address} within {timeout:g} s"
        ) from err
    except OSError as err:
        sock.close()
        raise IPComConnectionError(f"handshake with {address} failed: {err}") from err
    return Session(
        number=number,
        sock=sock,
        masks=masks,
        decoder=messages.StreamDecoder(masks, DEVICE_MESSAGE_LENGTHS),
        poll_bytes=cipher.encrypt(messages.encode_status_request(), masks),
        pacer=pacer,
        last_received=monotonic(),
    )


def read_connect_response(sock: socket.socket) -> bytes:
    """Read the connect response, or the rejection bytes and the close after them."""
    received = bytearray()
    while len(received) < CONNECT_RESPONSE_LENGTH:
        try:
            chunk = sock.recv(CONNECT_RESPONSE_LENGTH - len(received))
        except TimeoutError:
            if bytes(received) == AUTH_REJECTED:
                break
            raise
        if not chunk:
            break
        received += chunk
    if len(received) < CONNECT_RESPONSE_LENGTH and bytes(received) != AUTH_REJECTED:
        raise IPComProtocolError(
            f"connection closed after {len(received)} bytes of the "
            f"{CONNECT_RESPONSE_LENGTH}-byte connect response"
        )
    return bytes(received)
