"""The chained XOR cipher of PROTOCOL.md section 2, as pure functions.

A message's walk depends only on a 256-byte mask table, so a session computes
its table once (`single_key_masks` for the handshake, `dual_key_masks` once the
public key is known, `plaintext_masks` when the installation asked for no
cipher) and every message is then a cheap table walk.
"""

from __future__ import annotations

from .protocol import KEY_TABLE, KEY_TABLE_ROTATION, MAX_MESSAGE_LENGTH, PUBLIC_KEY_LENGTH

MaskTable = bytes
"""256 bytes: the mask for each value of the ping-pong state."""


def single_key_masks() -> MaskTable:
    """Return the masks of single-key mode: K rotated by 128 (K2)."""
    return KEY_TABLE[KEY_TABLE_ROTATION:] + KEY_TABLE[:KEY_TABLE_ROTATION]


def dual_key_masks(public_key: bytes) -> MaskTable:
    """Return the masks of dual-key mode: K XOR the session's public key."""
    if len(public_key) != PUBLIC_KEY_LENGTH:
        raise ValueError(f"public key must be {PUBLIC_KEY_LENGTH} bytes, got {len(public_key)}")
    return bytes(key ^ public_key[index % PUBLIC_KEY_LENGTH] for index, key in enumerate(KEY_TABLE))


def plaintext_masks() -> MaskTable:
    """Return the masks of a plaintext session: all zero, so the walk changes no byte.

    PROTOCOL.md section 2: an empty public key means no cipher at all. Zero
    masks keep one code path for both kinds of session, the stream decoder's
    resynchronisation included (its sync bytes are then the plain `05 01`).
    """
    return bytes(len(KEY_TABLE))


def _check_length(data: bytes) -> None:
    if len(data) > MAX_MESSAGE_LENGTH:
        raise ValueError(f"a message is at most {MAX_MESSAGE_LENGTH} bytes, got {len(data)}")


def encrypt(plain: bytes, masks: MaskTable) -> bytes:
    """Encrypt one whole message; the walk restarts for every message."""
    _check_length(plain)
    out = bytearray(len(plain))
    state = 0
    for index, byte in enumerate(plain):
        state ^= index
        cipher_byte = byte ^ masks[state]
        out[index] = cipher_byte
        state = cipher_byte
    return bytes(out)


def decrypt(cipher: bytes, masks: MaskTable) -> bytes:
    """Decrypt one message, or any prefix of one (the walk only looks back)."""
    _check_length(cipher)
    out = bytearray(len(cipher))
    state = 0
    for index, cipher_byte in enumerate(cipher):
        state ^= index
        out[index] = cipher_byte ^ masks[state]
        state = cipher_byte
    return bytes(out)
