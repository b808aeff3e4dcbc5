"""The cipher and message encoders against PROTOCOL.md's known-answer vectors."""

from __future__ import annotations

import hashlib

import pytest

from ipcom import cipher, messages, simulator_codec
from ipcom.errors import IPComAuthenticationError, IPComProtocolError
from ipcom.protocol import AUTH_REJECTED, KEY_TABLE

CAPTURED_BUS = simulator_codec.addressing(1, simulator_codec.BusType.MINIDO)
"""Bus byte 2 and base 60, as on the captured installation (PROTOCOL.md section 6)."""

TEST_PUBLIC_KEY = bytes((7 * i + 3) % 256 for i in range(128))


def test_key_table_digest() -> None:
    assert (
        hashlib.sha256(KEY_TABLE).hexdigest()
        == "15202aaf51b289531938b924ea70f6c726864ecffd455dc9c6c9370ee0af005f"
    )


def test_status_poll_single_key() -> None:
    assert cipher.encrypt(bytes([5, 1]), cipher.single_key_masks()).hex() == "0955"


def test_rejection_bytes_decrypt_single_key() -> None:
    assert cipher.decrypt(AUTH_REJECTED, cipher.single_key_masks()).hex() == "729c"


def test_status_poll_dual_key() -> None:
    masks = cipher.dual_key_masks(TEST_PUBLIC_KEY)
    assert cipher.encrypt(bytes([5, 1]), masks).hex() == "554a"


def test_connect_request_vector() -> None:
    request = messages.encode_connect_request("demo", "demo")
    assert len(request) == 56
    assert cipher.encrypt(request, cipher.single_key_masks()).hex() == (
        "0da7e127586fcc771a31e231cb38e7ad58eeb0a298ef5fc296064f4fbd0099a0"
        "375e749c5c2816320202f196c054e4334487c586345452ff"
    )


def test_snapshot_vector() -> None:
    plain = bytes([5, 1]) + bytes((37 * j) % 256 for j in range(128))
    encrypted = cipher.encrypt(plain, cipher.dual_key_masks(TEST_PUBLIC_KEY))
    assert (
        hashlib.sha256(encrypted).hexdigest()
        == "1222e7eb3fa8fbd66287f8c41c7ee22a1546273ed0bccaba9daefde9c2684553"
    )


def test_real_installation_poll_bytes() -> None:
    """A key with PUB[0]=0x2f and PUB[120]=0x06 turns the poll into 79 db."""
    public_key = bytearray(128)
    public_key[0] = 0x2F
    public_key[120] = 0x06
    encrypted = cipher.encrypt(bytes([5, 1]), cipher.dual_key_masks(bytes(public_key)))
    assert encrypted.hex() == "79db"


@pytest.mark.parametrize("plain", [b"", b"\x00", bytes(range(255))])
def test_decrypt_inverts_encrypt(plain: bytes) -> None:
    masks = cipher.dual_key_masks(TEST_PUBLIC_KEY)
    assert cipher.decrypt(cipher.encrypt(plain, masks), masks) == plain


def test_message_too_long_for_cipher() -> None:
    with pytest.raises(ValueError, match="at most 255"):
        cipher.encrypt(bytes(256), cipher.single_key_masks())


def test_public_key_of_wrong_size() -> None:
    with pytest.raises(ValueError, match="128 bytes"):
        cipher.dual_key_masks(bytes(127))


@pytest.mark.parametrize(
    ("username", "password", "problem"),
    [
        ("", "demo", "username must not be empty"),
        ("u" * 22, "demo", "at most 21"),
        ("demo", "p" * 23, "at most 22"),
        ("démo", "demo", "printable ASCII"),
        ("demo", "pass\nword", "printable ASCII"),
    ],
)
def test_credentials_the_protocol_cannot_carry(username: str, password: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        messages.encode_connect_request(username, password)
    assert password not in str(caught.value) or password == "demo"


def test_longest_credentials_fit() -> None:
    request = messages.encode_connect_request("u" * 21, "p" * 22)
    decoded = simulator_codec.read_connect_request(request)
    assert decoded.username == "u" * 21
    assert decoded.password == "p" * 22
    assert (decoded.bus, decoded.bus_lock) == (1, 0)
    assert "p" * 22 not in repr(decoded)


def test_connect_response_round_trip() -> None:
    plain = simulator_codec.success_response("0000", TEST_PUBLIC_KEY)
    raw = cipher.encrypt(plain, cipher.single_key_masks())
    assert (
        messages.decode_connect_response(raw, cipher.single_key_masks()).public_key
        == TEST_PUBLIC_KEY
    )


def test_connect_response_rejection() -> None:
    with pytest.raises(IPComAuthenticationError):
        messages.decode_connect_response(AUTH_REJECTED, cipher.single_key_masks())


@pytest.mark.parametrize("length", [0, 1, 2, 4, 134, 136])
def test_connect_response_of_wrong_length(length: int) -> None:
    with pytest.raises(IPComProtocolError, match="135 bytes"):
        messages.decode_connect_response(bytes(length), cipher.single_key_masks())


def test_set_outputs_frame_layout() -> None:
    plain = messages.encode_set_outputs(6, [255, 0, 0, 0, 0, 0, 0, 37])
    checksum = 0x01 ^ 255 ^ 37
    assert plain == bytes([4, 1, 2, 0x23, 65, 0, 10, 1, 255, 0, 0, 0, 0, 0, 0, 37, checksum])
    decoded = simulator_codec.read_frame(plain, CAPTURED_BUS)
    assert decoded.module == 6
    assert decoded.values == (255, 0, 0, 0, 0, 0, 0, 37)


def test_set_outputs_bad_checksum_detected() -> None:
    plain = bytearray(messages.encode_set_outputs(1, [0] * 8))
    plain[-1] ^= 0xFF
    with pytest.raises(simulator_codec.WireError, match="checksum"):
        simulator_codec.read_frame(bytes(plain), CAPTURED_BUS)


@pytest.mark.parametrize(
    ("module", "values"),
    [(0, [0] * 8), (17, [0] * 8), (1, [0] * 7), (1, [256] + [0] * 7), (1, [-1] + [0] * 7)],
)
def test_set_outputs_rejects_bad_arguments(module: int, values: list[int]) -> None:
    with pytest.raises(ValueError):
        messages.encode_set_outputs(module, values)
