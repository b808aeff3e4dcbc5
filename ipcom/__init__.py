"""Client library for IPCom Home Anywhere Blue installations."""

from .client import IPComClient
from .devices import DeviceMap, DeviceMapError, load_device_map
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
    "DeviceMap",
    "DeviceMapError",
    "IPComAuthenticationError",
    "IPComClient",
    "IPComConnectionError",
    "IPComError",
    "IPComProtocolError",
    "OutputChange",
    "StateSnapshot",
    "load_device_map",
]
