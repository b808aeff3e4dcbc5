"""Client library for IPCom Home Anywhere Blue installations."""

from .errors import (
    IPComAuthenticationError,
    IPComConnectionError,
    IPComError,
    IPComProtocolError,
)
from .models import ConnectionEvent, ConnectionState, OutputChange, StateSnapshot

__all__ = [
    "ConnectionEvent",
    "ConnectionState",
    "IPComAuthenticationError",
    "IPComConnectionError",
    "IPComError",
    "IPComProtocolError",
    "OutputChange",
    "StateSnapshot",
]
