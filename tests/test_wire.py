"""The wire format between the grader and the student process (autograder/wire.py)."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from autograder.wire import (
    MAX_HEADER_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_REPLY_BYTES,
    Callable,
    Handle,
    Rng,
    WireError,
    decode,
    decode_arguments,
    encode,
    receive,
    send,
)


def round_trip(value):
    """Encode, send, receive and decode ``value`` as the two sides of the pipe do."""
    arrays: list[np.ndarray] = []
    stream = io.BytesIO()
    send(stream, {"value": encode(value, arrays)}, arrays)
    stream.seek(0)
    header, received = receive(stream)
    assert stream.read() == b""  # exactly one message, fully consumed
    return decode(header["value"], received)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint16", "int64", "float32", "float64", ">f8", "<i4"])
def test_arrays_round_trip(dtype):
    array = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    back = round_trip(array)
    assert type(back) is np.ndarray and back.dtype == array.dtype and back.shape == (2, 3, 4)
    assert np.array_equal(back, array)


def test_non_contiguous_empty_and_zero_dimensional_arrays():
    matrix = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(round_trip(matrix.T), matrix.T)
    assert np.array_equal(round_trip(matrix[:, ::2]), matrix[:, ::2])
    assert round_trip(np.zeros(0)).shape == (0,)
    zero_d = round_trip(np.array(2.5))
    assert type(zero_d) is np.ndarray and zero_d.shape == () and zero_d == 2.5


def test_empty_two_dimensional_array():
    assert round_trip(np.zeros((0, 5))).shape == (0, 5)


def test_scalars_keep_their_python_or_numpy_type():
    for value in (True, 7, -2.5, np.float64(1.5), np.int32(-3), np.bool_(False), 2**100, -0.0, 1 + 2j):
        back = round_trip(value)
        assert type(back) is type(value) and back == value
    assert np.isnan(round_trip(float("nan"))) and round_trip(float("inf")) == float("inf")


def test_containers_and_text_round_trip():
    value = {"a": (1, [2.0, None]), "b": [np.ones(3), {"c": False}], "empty": (), 3: "three",
             ("x", 1): b"\x00bytes", "set": {1, 2}, "frozen": frozenset({"q"}), "text": "é\n\u202e"}
    back = round_trip(value)
    assert back["a"] == (1, [2.0, None]) and back["empty"] == () and back[3] == "three"
    assert back[("x", 1)] == b"\x00bytes" and back["set"] == {1, 2} and back["frozen"] == frozenset({"q"})
    assert back["text"] == "é\n\u202e"
    assert np.array_equal(back["b"][0], np.ones(3)) and back["b"][1] == {"c": False}


def test_text_and_complex_arrays_cross_as_arrays():
    for array in (np.array(["a", "bc"]), np.array([b"x"]), np.array([1 + 2j])):
        back = round_trip(array)
        assert back.dtype == array.dtype and np.array_equal(back, array)


def test_a_generator_crosses_as_its_state():
    rng = np.random.default_rng(7)
    rng.random(3)
    back = round_trip(rng)
    assert back is not rng and back.bit_generator.state == rng.bit_generator.state
    assert back.random() == rng.random()


@pytest.mark.parametrize("value", [
    np.array([1, "x"], dtype=object),
    np.ones(3).view(np.matrix),  # an ndarray subclass
    np.zeros(2, dtype=[("a", "f8")]),  # a structured dtype
    object(),
    len,
])
def test_anything_else_stays_behind_as_a_handle(value):
    seen = []
    arrays: list[np.ndarray] = []
    node = encode(value, arrays, lambda v: seen.append(v) or 41)
    back = decode(node, arrays)
    assert isinstance(back, Handle) and back.ident == 41 and back.type_name == type(value).__name__
    assert seen == [value] and arrays == []


def test_a_callable_of_the_other_side_crosses_as_its_id():
    node = encode(Callable(9, "relu"), [])
    back = decode(node, [])
    assert isinstance(back, Callable) and (back.ident, back.name) == (9, "relu")


def test_rng_argument_is_described_not_sent():
    arrays: list[np.ndarray] = []
    assert encode(Rng(5, key=2, skip=10), arrays) == {"t": "rng", "id": 2, "seed": 5, "skip": 10}
    assert arrays == []


def test_arguments_decode_as_a_list_and_a_dict_of_names():
    arrays: list[np.ndarray] = []
    args, kwargs = decode_arguments([encode(1, arrays)], {"k": encode("v", arrays)}, arrays)
    assert args == [1] and kwargs == {"k": "v"}
    for bad in (({}, {}), ([], []), ([None], {})):
        with pytest.raises(WireError):
            decode_arguments(*bad, arrays)


def test_a_value_nested_too_deeply_is_refused():
    value: list = []
    for _ in range(100):
        value = [value]
    with pytest.raises(WireError, match="nested too deeply"):
        encode(value, [])


def message(header: bytes, payload: bytes = b"") -> io.BytesIO:
    return io.BytesIO(struct.pack(">Q", len(header)) + header + payload)


def described(*arrays: list) -> bytes:
    return json.dumps({"arrays": list(arrays)}).encode()


@pytest.mark.parametrize("stream, error", [
    (io.BytesIO(struct.pack(">Q", MAX_MESSAGE_BYTES + 1)), "header too large"),
    (io.BytesIO(b"\xff" * 64), "header too large"),
    (message(b"not json"), "not JSON"),
    (message(b"\xff\xfe"), "not JSON"),
    (message(b"[1, 2]"), "not an object with arrays"),
    (message(b'{"op": "call"}'), "not an object with arrays"),
    (message(described(["|O", [2]]), b"\0" * 16), "refused array of dtype '|O'"),
    (message(described(["V8", [1]]), b"\0" * 8), "refused array"),
    (message(described(["<f8", [-1]])), "refused array"),
    (message(described(["no such dtype", [1]])), "bad array description"),
    (message(described(["<f8"])), "bad array description"),
    (message(described(["<f8", [2**14, 2**14]])), "arrays too large"),
    # sizes whose product wraps around in 64 bits (to 0, or below 0), an empty dtype, a dimension
    # that only an empty array could have
    (message(described(["<f8", [2**32, 2**32]])), "beyond the size limit"),
    (message(described(["|i1", [2**62, 3]])), "beyond the size limit"),
    (message(described(["<f8", [2**26, 2**26, 2**26]])), "arrays too large"),
    (message(described(["|S0", [10**6]])), "refused array of dtype"),
    (message(described(["<f8", [0, 2**70]])), "beyond the size limit"),
])
def test_malformed_messages_raise_wire_error(stream, error):
    with pytest.raises(WireError, match=error):
        receive(stream)


def test_a_message_cut_short_is_end_of_input():
    for stream in (io.BytesIO(b""), io.BytesIO(b"\0\0\0"), message(described(["<f8", [4]]), b"\0" * 31)):
        with pytest.raises(EOFError):
            receive(stream)


@pytest.mark.parametrize("node", [
    None, 3, "array", [], {"t": "pickle"}, {"t": "object-ish"},
    {"t": "array"},
    {"t": "array", "i": 5},
    {"t": "tuple"},
    {"t": "int", "v": 3},  # an int crosses as its digits
    {"t": "int", "v": "9" * 5000},
    {"t": "bool", "v": "yes"},
    {"t": "dict", "items": [[{"t": "list", "items": []}, {"t": "none"}]]},  # an unhashable key
    {"t": "generator", "state": {"t": "dict", "items": []}},
    {"t": "bytes", "v": "not base64!"},
])
def test_decode_of_junk_raises_wire_error(node):
    # A header that passed receive() but whose values do not follow encode()'s format.
    with pytest.raises(WireError):
        decode(node, [np.zeros(1)])


def reply(header: dict, payload: bytes = b"") -> io.BytesIO:
    head = json.dumps(header).encode()
    return io.BytesIO(struct.pack(">Q", len(head)) + head + payload)


def test_a_reply_larger_than_its_limit_is_refused_before_it_is_read():
    """A forged reply announcing 160 MB: refused on its header, no byte of the arrays read."""
    stream = reply({"arrays": [["<f8", [20_000_000]]]}, payload=b"\0" * 2**20)
    with pytest.raises(WireError, match="arrays too large"):
        receive(stream, MAX_REPLY_BYTES)
    assert stream.tell() == len(stream.getvalue()) - 2**20  # the header read, no byte of the arrays


def test_a_reply_header_over_its_cap_is_refused():
    header = struct.pack(">Q", MAX_HEADER_BYTES + 1)
    with pytest.raises(WireError, match="header too large"):
        receive(io.BytesIO(header), MAX_REPLY_BYTES, MAX_HEADER_BYTES)


def test_a_deeply_nested_header_is_a_wire_error():
    head = b'{"arrays": [], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(WireError, match="not JSON"):
        receive(io.BytesIO(struct.pack(">Q", len(head)) + head), MAX_REPLY_BYTES)
