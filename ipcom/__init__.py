"""Client library for IPCom Home Anywhere Blue installations.

`IPComClient` holds the connection to a bus; `Installation` makes a device
map live on it as `Light`, `Dimmer`, `Switch` and `Shutter` devices whose
commands complete when the installation shows them.
"""

from .client import IPComClient
from .devices import DeviceMap, DeviceMapError, load_device_map
from .errors import (
    IPComAuthenticationError,
    IPComConnectionError,
    IPComError,
    IPComProtocolError,
)
from .installation import Installation
from .models import ConnectionEvent, ConnectionState, OutputChange, StateSnapshot
from .outputs import Dimmer, Light, Switch
from .protocol import BusType
from .scheduling import AsyncioScheduler, ThreadScheduler
from .shutter import Shutter
from .writes import AbandonReason, WriteAbandonedError, WriteOutcome

__all__ = [
    "AbandonReason",
    "AsyncioScheduler",
    "BusType",
    "ConnectionEvent",
    "ConnectionState",
    "DeviceMap",
    "DeviceMapError",
    "Dimmer",
    "IPComAuthenticationError",
    "IPComClient",
    "IPComConnectionError",
    "IPComError",
    "IPComProtocolError",
    "Installation",
    "Light",
    "OutputChange",
    "Shutter",
    "StateSnapshot",
    "Switch",
    "ThreadScheduler",
    "WriteAbandonedError",
    "WriteOutcome",
    "load_device_map",
]
