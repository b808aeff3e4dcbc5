"""The facts of the IPCom wire protocol, each named once.

Every constant cites the section of ``shared/PROTOCOL.md`` it comes from, so a
reader can check it against the specification. Nothing else in the package
spells a protocol number out.
"""

from __future__ import annotations

import enum
from typing import Final

# Section 1: transport.
DEFAULT_PORT: Final = 5000
LOCAL_RETRY_INTERVAL: Final = 60.0
"""While a session runs on the remote address, try the local one this often (assumed, ours).

The vendor application prefers the local address whenever it answers; how
often it looks again is not known.
"""
LOCAL_RETRY_MAX: Final = 1800.0
"""Longest wait between two tries of the local address (assumed): one that takes a TCP
connection but fails the login doubles the wait each time, so the remote session is not
interrupted every minute for nothing."""

# Section 2: the cipher's key table K (observed) and its rotation K2.
KEY_TABLE: Final = bytes.fromhex(
    "5383fb327f7e9ae901b37f8006cf39266f5d255b1e2628c4b37804ac9f0bae9d"
    "57ac4e820eb4ba6c27380a719be1f7fd14cc140d71e5b8f77ccbe00b0478b17f"
    "2bea8541952218ee06ff791326d308107504536c04fd91f33193b614e353f6ce"
    "6ec374fece6201bd8d1126390a7451ca564251d57b8ea647dc7f7409908f9af2"
    "0c748164100d64ce54b57881a59036eb82c9e75cbd3f3b29d32f226e6f24ddfb"
    "dd98001d4b82ce12d13329224f92f994eb12572ffa30c7f19d72ca8d25eb2c3d"
    "e3fbccbc54115325e2ce78f9dc6fe8e2fb413ced6f9ab1f3727802cc913d207f"
    "bee953d4fbff6e42b1f65e4d1403b4fb2f537abc9ea7ce8eca08c47b19a12b7f"
)
KEY_TABLE_ROTATION: Final = 128
PUBLIC_KEY_LENGTH: Final = 128
MAX_MESSAGE_LENGTH: Final = 255
"""The cipher's ping-pong state is one byte, so no message may reach 256 bytes."""

# Section 3: handshake.
CONNECT_COMMAND: Final = 1
CONNECT_VERSION: Final = 2
CONNECT_REQUEST_LENGTH: Final = 56
CREDENTIAL_FIELD_LENGTH: Final = 26
USERNAME_PREFIX: Final = "USER:"
PASSWORD_PREFIX: Final = "PWD:"
MAX_USERNAME_LENGTH: Final = CREDENTIAL_FIELD_LENGTH - len(USERNAME_PREFIX)
MAX_PASSWORD_LENGTH: Final = CREDENTIAL_FIELD_LENGTH - len(PASSWORD_PREFIX)
CONNECT_BUS_FIELD_OFFSET: Final = 2 + 2 * CREDENTIAL_FIELD_LENGTH
"""Byte 54: the bus number of the connection, then the bus lock at byte 55."""
CONNECT_BUS_LOCK: Final = 0
CONNECT_STATUS_SUCCESS: Final = 1
"""Byte 0 of the connect response; any other status means not connected."""
FIRMWARE_VERSION_OFFSET: Final = 2
"""The firmware version follows the status and the version byte."""
FIRMWARE_VERSION_LENGTH: Final = 4
CONNECT_RESPONSE_LENGTH: Final = 135
CONNECT_RESPONSE_KEY_OFFSET: Final = FIRMWARE_VERSION_OFFSET + FIRMWARE_VERSION_LENGTH + 1
"""The status, the version, the firmware version and one unused byte come before the key."""
CONNECT_SHORT_RESPONSE_LENGTH: Final = 3
"""The short form of the connect response: a status and no key, so a plaintext session (vendor)."""
CONNECT_SHORT_RESPONSE_QUIET: Final = 0.2
"""Seconds of silence after a first read of 3 bytes that make it the short form (assumed, ours).

The vendor takes one read as the whole response; the pause tells the short
form from the start of a 135-byte response that TCP happened to split there.
"""
AUTH_REJECTED: Final = b"\x7e\xe3"
"""Sent raw (not a message) by the device for rejected credentials."""
NONSECURE_REPLY: Final = b"\x0e\x65"
"""Sent raw, id 14 NonSecure (assumed): connect again and talk without the cipher."""

# Section 4: messages after the handshake, all ``[command id, version, ...]``.
HEADER_LENGTH: Final = 2
MESSAGE_VERSION: Final = 1
DISCONNECT_COMMAND: Final = 2
KEEPALIVE_COMMAND: Final = 3
SET_OUTPUTS_COMMAND: Final = 4
STATUS_COMMAND: Final = 5
UNKNOWN_DEVICE_COMMANDS: Final = (6, 35)
"""Ids installations send whose meaning nobody knows; a client must survive them."""

MODULE_COUNT: Final = 16
OUTPUTS_PER_MODULE: Final = 8
SNAPSHOT_PAYLOAD_LENGTH: Final = MODULE_COUNT * OUTPUTS_PER_MODULE
SNAPSHOT_LENGTH: Final = HEADER_LENGTH + SNAPSHOT_PAYLOAD_LENGTH

RELAY_OFF: Final = 0
RELAY_ON: Final = 255
DIMMER_MIN: Final = 0
DIMMER_MAX: Final = 100
OUTPUT_VALUE_MAX: Final = 255

# Section 4: the bus frame carried by a set-outputs request.
FRAME_BUS_NUMBER: Final = 2
"""Section 6: the bus byte of bus 2, of a TriCom's bus 1 and of a "Minido" bus 1."""
FRAME_BUS_NUMBER_OTHER: Final = 1
"""Section 6: the bus byte of a bus 1 that is neither "Minido" nor TriCom's."""
FRAME_START: Final = 0x23
FRAME_ADDRESS_BASE: Final = 60
"""Section 6: the module base address on any bus but a BiBus."""
FRAME_ADDRESS_BASE_BIBUS: Final = 30
"""Section 6: the module base address on a BiBus."""
FRAME_SOURCE: Final = 0
FRAME_DATA_MARKER: Final = 0x01
FRAME_DATA_LENGTH: Final = 1 + OUTPUTS_PER_MODULE
FRAME_LENGTH_FIELD: Final = FRAME_DATA_LENGTH + 1
FRAME_HEADER_LENGTH: Final = 5
"""Bus number, frame start, to, from and length field, before the data."""
FRAME_LENGTH: Final = FRAME_HEADER_LENGTH + FRAME_DATA_LENGTH + 1
SET_OUTPUTS_LENGTH: Final = HEADER_LENGTH + FRAME_LENGTH

DEVICE_MESSAGE_LENGTHS: Final[dict[int, int]] = {
    STATUS_COMMAND: SNAPSHOT_LENGTH,
    KEEPALIVE_COMMAND: HEADER_LENGTH,
}
"""Lengths of the messages a device sends, by command id."""

CLIENT_MESSAGE_LENGTHS: Final[dict[int, int]] = {
    STATUS_COMMAND: HEADER_LENGTH,
    SET_OUTPUTS_COMMAND: SET_OUTPUTS_LENGTH,
    KEEPALIVE_COMMAND: HEADER_LENGTH,
    DISCONNECT_COMMAND: HEADER_LENGTH,
}
"""Lengths of the messages a client sends, by command id."""

# Section 5: timing, in seconds.
POLL_INTERVAL: Final = 0.35
COMMAND_INTERVAL: Final = 0.25
KEEPALIVE_INTERVAL: Final = 30.0
SOCKET_TIMEOUT: Final = 5.0
RECONNECT_BASE: Final = 1.0
RECONNECT_MAX: Final = 30.0
RECONNECT_HEALTHY_AFTER: Final = 5.0
"""A session must answer polls this long before the reconnect backoff starts over (assumed)."""
RECONNECT_JITTER: Final = 0.25
"""Each reconnect delay is spread by up to this share either way (assumed)."""
STALE_AFTER: Final = 5.0
"""Seconds without a decoded message that make a link dead (assumed; under the 6 s timeout)."""
CONNECT_TIMEOUT: Final = 1.0
"""The vendor's TCP connect timeout: it bounds the check whether the local address answers."""

# Section 6: buses and installation types.
BUSES: Final = (1, 2)
"""An installation has one or two buses; each connection serves one (byte 54 of its request)."""
DEFAULT_BUS: Final = 1


class BusType(enum.StrEnum):
    """The type of a bus, a setting of the installation and never on the wire (section 6)."""

    MINIDO = "minido"
    BIBUS = "bibus"
    OTHER = "other"
