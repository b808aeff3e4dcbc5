"""An installation's addresses: the local one, and the remote one it may also have.

PROTOCOL.md section 1: the vendor application uses the local address when it
answers, else the remote one. Each address carries the username a login
there sends, since a TriCom reached remotely logs in with its serial number
before the username (section 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from . import messages

MAX_PORT: Final = 65535


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address of the installation and the username a login there sends."""

    host: str
    port: int
    username: str
    remote: bool

    @property
    def address(self) -> str:
        """The "host:port" of the address, an IPv6 host in brackets."""
        return format_address(self.host, self.port)


def format_address(host: str, port: int) -> str:
    """Return "host:port", with an IPv6 host in brackets so the port stays readable."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def remote_endpoint(
    host: str | None, port: int, serial: str | None, username: str, *, tricom: bool
) -> Endpoint | None:
    """The remote address and its login, checked; None without a remote host.

    Raises `ValueError` naming the problem: an empty host, a port out of
    range, a serial number for an installation that is no TriCom, a TriCom
    remote address without one, or a serial number and username too long
    together for the username field.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= MAX_PORT:
        raise ValueError(f"remote_port must be a TCP port (1..{MAX_PORT}), got {port!r}")
    if serial is not None and not tricom:
        raise ValueError(
            "serial is the serial number of a TriCom installation, for its remote login; "
            "this installation is no TriCom (tricom=False)"
        )
    login = username
    if serial is not None:
        if not serial:
            raise ValueError("serial must be the TriCom's serial number, got an empty string")
        login = messages.tricom_remote_username(serial, username)
    if host is None:
        return None
    if not host.strip():
        raise ValueError("remote_host must be a host name or address, got an empty string")
    if tricom and serial is None:
        raise ValueError(
            "a remote login to a TriCom installation sends its serial number with the "
            "username (PROTOCOL.md section 3): give serial together with remote_host"
        )
    return Endpoint(host, port, login, remote=True)
