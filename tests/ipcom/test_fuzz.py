"""Fuzzing: every decoder and parser fed arbitrary input raises only its documented errors.

The stream decoder also keeps its buffer within bounds and accounts for every
byte, and reassembles a valid stream whatever TCP did to it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from client_helpers import snapshot_message
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from ipcom import cipher, messages, simulator_codec
from ipcom.devices import DeviceMap, DeviceMapError, load_device_map, parse_device_map
from ipcom.errors import IPComAuthenticationError, IPComProtocolError
from ipcom.models import StateSnapshot
from ipcom.protocol import (
    CLIENT_MESSAGE_LENGTHS,
    CONNECT_REQUEST_LENGTH,
    CONNECT_RESPONSE_LENGTH,
    DEVICE_MESSAGE_LENGTHS,
    MESSAGE_VERSION,
    MODULE_COUNT,
    OUTPUT_VALUE_MAX,
    OUTPUTS_PER_MODULE,
    PUBLIC_KEY_LENGTH,
    SET_OUTPUTS_LENGTH,
    SNAPSHOT_LENGTH,
    SNAPSHOT_PAYLOAD_LENGTH,
    STATUS_COMMAND,
)
from ipcom.simulator import UNKNOWN_MESSAGE_PLAIN

CAPTURED_BUS = simulator_codec.addressing(1, simulator_codec.BusType.MINIDO)
"""Bus byte 2 and base 60, as on the captured installation (PROTOCOL.md section 6)."""

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

public_keys = st.binary(min_size=PUBLIC_KEY_LENGTH, max_size=PUBLIC_KEY_LENGTH)
snapshots = st.binary(min_size=SNAPSHOT_PAYLOAD_LENGTH, max_size=SNAPSHOT_PAYLOAD_LENGTH).map(
    snapshot_message
)
device_messages = st.one_of(snapshots, st.just(messages.encode_keepalive()))


def exact_or_any(length: int) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, half of them exactly `length` long so the deeper checks run."""
    return st.one_of(st.binary(min_size=length, max_size=length), st.binary(max_size=2 * length))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given offsets (any order, duplicates and out-of-range ignored)."""
    points = sorted({cut for cut in cuts if 0 < cut < len(data)})
    return [data[start:end] for start, end in zip([0, *points], [*points, len(data)], strict=True)]


# The stream decoder


@FUZZ
@given(
    key=public_keys,
    chunks=st.lists(st.binary(max_size=600), max_size=20),
    max_buffer=st.integers(min_value=0, max_value=1000),
    client_side=st.booleans(),
)
def test_stream_decoder_survives_anything_within_its_buffer_bound(
    key: bytes, chunks: list[bytes], max_buffer: int, client_side: bool
) -> None:
    lengths = CLIENT_MESSAGE_LENGTHS if client_side else DEVICE_MESSAGE_LENGTHS
    decoder = messages.StreamDecoder(cipher.dual_key_masks(key), lengths, max_buffer=max_buffer)
    bound = max(max_buffer, *lengths.values())
    decoded = 0
    for chunk in chunks:
        for message in decoder.feed(chunk):
            assert message.version == MESSAGE_VERSION
            assert len(message.plain) == lengths[message.command]
            assert message.plain[0] == message.command
            decoded += len(message.plain)
        assert decoder.buffered <= bound
    fed = sum(map(len, chunks))
    assert decoded + decoder.dropped_bytes + decoder.buffered == fed


@FUZZ
@given(
    key=public_keys,
    plains=st.lists(device_messages, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=8 * SNAPSHOT_LENGTH), max_size=30),
)
def test_any_segmentation_of_a_valid_stream_yields_the_same_messages(
    key: bytes, plains: list[bytes], cuts: list[int]
) -> None:
    masks = cipher.dual_key_masks(key)
    stream = b"".join(cipher.encrypt(plain, masks) for plain in plains)
    decoder = messages.StreamDecoder(masks, DEVICE_MESSAGE_LENGTHS)

    decoded = [message.plain for piece in split(stream, cuts) for message in decoder.feed(piece)]

    assert decoded == plains
    assert (decoder.dropped_bytes, decoder.unknown_messages, decoder.buffered) == (0, 0, 0)


def is_subsequence(short: list[bytes], long: list[bytes]) -> bool:
    remaining = iter(long)
    return all(any(item == candidate for candidate in remaining) for item in short)


@FUZZ
@given(
    key=public_keys,
    plains=st.lists(st.one_of(device_messages, st.just(UNKNOWN_MESSAGE_PLAIN)), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=8 * SNAPSHOT_LENGTH), max_size=30),
)
def test_the_decoder_resynchronises_on_the_snapshot_after_an_unknown_message(
    key: bytes, plains: list[bytes], cuts: list[int]
) -> None:
    """An unknown message may cost the messages up to the next snapshot, never that snapshot.

    Nor does the decoder invent a message. Both hold unless bytes inside
    the skipped stretch happen to read as a message start: the protocol
    offers no better way to find the next message, so such streams are
    left out.
    """
    masks = cipher.dual_key_masks(key)
    pieces = [cipher.encrypt(plain, masks) for plain in plains]
    stream = b"".join(pieces)
    starts = {sum(map(len, pieces[:index])) for index in range(len(pieces))}

    def reads_as_a_message_start(position: int) -> bool:
        command, version = cipher.decrypt(stream[position : position + 2].ljust(2), masks)
        return version == MESSAGE_VERSION and command in DEVICE_MESSAGE_LENGTHS

    must: list[bytes] = []
    skipping_from: int | None = None
    for start, plain in zip(sorted(starts), plains, strict=True):
        if plain == UNKNOWN_MESSAGE_PLAIN:
            skipping_from = start if skipping_from is None else skipping_from
            continue
        if skipping_from is not None and plain[0] == STATUS_COMMAND:
            stretch = range(skipping_from + 1, start)
            assume(not any(reads_as_a_message_start(at) for at in stretch if at not in starts))
            skipping_from = None
        if skipping_from is None:
            must.append(plain)
    if skipping_from is not None:
        stretch = range(skipping_from + 1, len(stream))
        assume(not any(reads_as_a_message_start(at) for at in stretch if at not in starts))
    decoder = messages.StreamDecoder(masks, DEVICE_MESSAGE_LENGTHS)

    decoded = [message.plain for piece in split(stream, cuts) for message in decoder.feed(piece)]

    assert is_subsequence(must, decoded)
    assert is_subsequence(decoded, [plain for plain in plains if plain != UNKNOWN_MESSAGE_PLAIN])
    assert decoder.unknown_messages >= (UNKNOWN_MESSAGE_PLAIN in plains)


# Message parsers


@FUZZ
@given(plain=exact_or_any(SNAPSHOT_LENGTH))
def test_snapshot_decoder_raises_only_protocol_errors(plain: bytes) -> None:
    try:
        snapshot = StateSnapshot.from_message(plain)
    except IPComProtocolError:
        return
    assert snapshot.values == tuple(plain[2:])


@FUZZ
@given(values=st.binary(min_size=SNAPSHOT_PAYLOAD_LENGTH, max_size=SNAPSHOT_PAYLOAD_LENGTH))
def test_snapshot_round_trip(values: bytes) -> None:
    assert StateSnapshot.from_message(snapshot_message(values)).values == tuple(values)


@FUZZ
@given(raw=exact_or_any(CONNECT_RESPONSE_LENGTH))
def test_connect_response_parser_raises_only_its_documented_errors(raw: bytes) -> None:
    try:
        public_key = messages.decode_connect_response(raw, cipher.single_key_masks()).public_key
    except (IPComAuthenticationError, IPComProtocolError):
        return
    assert len(public_key) == PUBLIC_KEY_LENGTH


@FUZZ
@given(
    firmware=st.text(
        alphabet=st.characters(min_codepoint=0, max_codepoint=127), min_size=4, max_size=4
    ),
    key=public_keys,
)
def test_connect_response_round_trip(firmware: str, key: bytes) -> None:
    plain = simulator_codec.success_response(firmware, key)
    raw = cipher.encrypt(plain, cipher.single_key_masks())
    assert messages.decode_connect_response(raw, cipher.single_key_masks()).public_key == key


@FUZZ
@given(plain=exact_or_any(CONNECT_REQUEST_LENGTH))
def test_connect_request_decoder_raises_only_wire_errors(plain: bytes) -> None:
    try:
        request = simulator_codec.read_connect_request(plain)
    except simulator_codec.WireError:
        return
    assert isinstance(request.username, str)
    assert isinstance(request.password, str)


@FUZZ
@given(plain=exact_or_any(SET_OUTPUTS_LENGTH))
def test_set_outputs_decoder_raises_only_wire_errors(plain: bytes) -> None:
    try:
        decoded = simulator_codec.read_frame(plain, CAPTURED_BUS)
    except simulator_codec.WireError:
        return
    assert 1 <= decoded.module <= MODULE_COUNT
    assert len(decoded.values) == OUTPUTS_PER_MODULE


@FUZZ
@given(
    module=st.integers(min_value=1, max_value=MODULE_COUNT),
    values=st.lists(
        st.integers(min_value=0, max_value=OUTPUT_VALUE_MAX),
        min_size=OUTPUTS_PER_MODULE,
        max_size=OUTPUTS_PER_MODULE,
    ),
    flip=st.integers(min_value=0, max_value=SET_OUTPUTS_LENGTH - 1),
    mask=st.integers(min_value=1, max_value=255),
)
def test_set_outputs_round_trip_and_a_corrupted_data_byte_is_caught(
    module: int, values: list[int], flip: int, mask: int
) -> None:
    plain = messages.encode_set_outputs(module, values)
    assert simulator_codec.read_frame(plain, CAPTURED_BUS) == simulator_codec.Frame(
        module, tuple(values)
    )

    corrupted = bytearray(plain)
    corrupted[flip] ^= mask
    addressed_elsewhere = flip == 4  # the target byte: another module is a valid frame
    header = flip < 2  # the decoder does not check the message header it was handed
    if not (addressed_elsewhere or header):
        with pytest.raises(simulator_codec.WireError):
            simulator_codec.read_frame(bytes(corrupted), CAPTURED_BUS)


# The device map

KEYS = [
    "lights",
    "switches",
    "shutters",
    "module",
    "output",
    "type",
    "light",
    "dimmer",
    "switch",
    "relay_role",
    "up",
    "down",
    "paired_device",
    "travel_time",
    "travel_time_up",
    "travel_time_down",
    "cover_name",
    "display_name",
    "description",
    "area",
    "living_up",
    "living_down",
    "living",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(KEYS),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), scalars), children, max_size=5),
    ),
    max_leaves=40,
)


def shutter_pair(up: dict[str, Any], down: dict[str, Any]) -> dict[str, Any]:
    return {
        "living_up": {"relay_role": "up", "paired_device": "living_down", **up},
        "living_down": {"relay_role": "down", "paired_device": "living_up", **down},
    }


entries = st.fixed_dictionaries(
    {"module": st.integers(min_value=0, max_value=17), "output": st.integers(0, 9)},
    optional={key: scalars for key in KEYS[5:]},
)
plausible_documents = st.fixed_dictionaries(
    {},
    optional={
        "lights": st.dictionaries(st.sampled_from(KEYS[-5:]), entries, max_size=3),
        "switches": st.dictionaries(st.text(max_size=6), entries, max_size=3),
        "shutters": st.builds(shutter_pair, entries, entries),
    },
)


def parse(document: object) -> DeviceMap | None:
    try:
        return parse_device_map(document, "devices.yaml")
    except DeviceMapError as err:
        assert err.problems
        assert all(problem.startswith("devices.yaml") for problem in err.problems)
        return None


@FUZZ
@given(document=documents)
def test_device_map_parser_raises_only_device_map_errors(document: object) -> None:
    parse(document)


@FUZZ
@given(document=plausible_documents)
def test_device_map_parser_on_nearly_valid_documents(document: dict[str, Any]) -> None:
    device_map = parse(document)
    if device_map is not None:
        for device in device_map:
            assert device_map.get(device.key) is device


@pytest.fixture(scope="module")
def devices_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fuzz") / "devices.yaml"


def load(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        load_device_map(path)
    except DeviceMapError as err:
        assert err.problems
        assert all(problem.startswith(str(path)) for problem in err.problems)


def dump(document: object) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True).encode()


YAML_TEXT = st.text(alphabet=st.sampled_from(list("ab1:-?&*!|>{}[],#'\" \n\t%@`.0x")), max_size=80)


@FUZZ
@given(data=st.one_of(st.binary(max_size=200), YAML_TEXT.map(str.encode)))
def test_device_map_loader_raises_only_device_map_errors_for_any_bytes(
    devices_file: Path, data: bytes
) -> None:
    load(devices_file, data)


@FUZZ
@given(document=st.one_of(documents, plausible_documents), cut=st.integers(0, 400), junk=YAML_TEXT)
def test_device_map_loader_on_damaged_yaml(
    devices_file: Path, document: object, cut: int, junk: str
) -> None:
    """A real-looking file, cut short or with junk spliced in."""
    try:
        text = dump(document)
    except (yaml.YAMLError, ValueError, OverflowError):
        assume(False)
    load(devices_file, text)
    load(devices_file, text[:cut] + junk.encode() + text[cut:])


def test_nan_and_infinite_floats_are_problems_not_crashes() -> None:
    document = {
        "shutters": shutter_pair(
            {"module": 1, "output": 1, "travel_time": math.nan},
            {"module": 1, "output": 2, "travel_time": math.inf},
        )
    }
    assert parse(document) is None


# Found by fuzzing: a huge integer or an alias bomb once crashed the loader or
# made a problem message of megabytes.

HUGE_DECIMAL = "1" * 5000
HUGE_HEX = "0x" + "f" * 4000
"""Beyond Python's 4300-digit limit for int <-> str conversion."""


@pytest.mark.parametrize(
    "text",
    [
        f"lights:\n  hall: {{module: {HUGE_DECIMAL}, output: 1}}\n",
        f"lights:\n  hall: {HUGE_HEX}\n",
        "shutters:\n"
        "  up: {module: 1, output: 1, relay_role: up, paired_device: down, "
        f"travel_time: {HUGE_HEX}}}\n"
        "  down: {module: 1, output: 2, relay_role: down, paired_device: up}\n",
    ],
    ids=["decimal-module", "hex-settings", "hex-travel-time"],
)
def test_a_huge_integer_is_a_problem_not_a_crash(tmp_path: Path, text: str) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    with pytest.raises(DeviceMapError):
        load_device_map(path)


ALIAS_BOMB = "anchors:\n  - &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  - &{name} [{', '.join([f'*{previous}'] * 10)}]\n"
    for previous, name in zip("abcde", "bcdef", strict=True)
)
"""Seven short lines that stand for a million strings (each level repeats the last ten times)."""


@pytest.mark.parametrize(
    "entry",
    ["lights:\n  hall: *f\n", "lights:\n  hall: {module: 1, output: 1, area: *f}\n"],
    ids=["as-settings", "as-area"],
)
def test_a_yaml_alias_bomb_gives_a_short_error(tmp_path: Path, entry: str) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(ALIAS_BOMB + entry)
    with pytest.raises(DeviceMapError) as caught:
        load_device_map(path)
    assert len(str(caught.value)) < 10_000
