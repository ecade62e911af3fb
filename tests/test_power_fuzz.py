"""Each wire parser fed random byte streams (hypothesis, derandomized): no crash, no hang, bounded buffers,
and what comes out is well formed. 10,000 streams per serial parser."""
import math

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from deepx.runtime.power.ina import LineParser
from deepx.runtime.power.meter import LineBuffer
from deepx.runtime.power.rpi5 import parse as parse_pmic
from deepx.runtime.power.scpi import parse_number
from deepx.runtime.power.tegrastats import parse_line
from deepx.runtime.power.um import FRAME_LEN, MODELS, FrameParser, integrity_error
from deepx.tools.meter_emulators import ScpiEmulator, constant, um_frame

SERIAL = settings(max_examples=10_000, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate, Phase.shrink])
TEXT = settings(max_examples=1_000, derandomize=True, deadline=None, database=None)

csv_bytes = st.binary(max_size=300).map(lambda b: bytes(CSV_ALPHABET[x % len(CSV_ALPHABET)] for x in b))
CSV_ALPHABET = b"0123456789.,-+e\r\n mVAinfa\xff\x00"


@SERIAL
@given(st.binary(max_size=300), st.integers(0, 2**40))
def test_um_frame_parser(junk, n):
    """Junk around a frame with one byte replaced (or cut short), then three good frames, fed in chunks;
    `n` packs the model, the frame's volts and amps, the cut, the new byte and the chunk size."""
    n, kind = divmod(n, 3)
    n, volts = divmod(n, 171)
    n, amps = divmod(n, 501)
    n, cut = divmod(n, 2 * FRAME_LEN + 1)
    chunk, byte = divmod(n, 256)
    model = MODELS[sorted(MODELS)[kind]]
    volts, amps, chunk = 3 + volts / 10, amps / 100, 1 + chunk % 400
    good = um_frame(model, volts, volts * amps)
    bad = good[:cut] + bytes([byte]) + good[cut + 1:] if cut < FRAME_LEN else good[:cut - FRAME_LEN]
    stream = junk[: len(junk) // 2] + bad + junk[len(junk) // 2:] + good * 3
    parser, out = FrameParser(model), []
    for i in range(0, len(stream), chunk):
        out += parser.feed(stream[i:i + chunk])
        assert len(parser._buf) < 2 * FRAME_LEN
    assert all(len(f) == FRAME_LEN and integrity_error(model, f) is None for f in out)
    # resynchronised on the first good frame, whatever came before (the last one may wait for the next
    # answer if its own bytes contain the model id)
    assert out[-2:] == [good, good]


@SERIAL
@given(st.one_of(csv_bytes, st.binary(max_size=300)), st.integers(0, 399))
def test_ina_line_parser(stream, n):
    columns = ["ms,V,mA", "ms,_,_,V,mA", "mW", "s,V,A,W"][n % 4]
    size = 1 + n // 4
    lines, parser = LineBuffer(skip_first=True), LineParser("ina:fuzz", columns)
    for chunk in (stream[i:i + size] for i in range(0, len(stream), size)):
        for line in lines.feed(chunk):
            got = parser.parse(line)
            if got is not None:
                assert math.isfinite(got[2])
        assert len(lines._buf) <= lines.max_len


@SERIAL
@given(st.one_of(csv_bytes, st.binary(max_size=300)), st.integers(1, 100))
def test_scpi_reply_parser(stream, size):
    lines = LineBuffer()
    for chunk in (stream[i:i + size] for i in range(0, len(stream), size)):
        for line in lines.feed(chunk):
            value = parse_number(line)
            assert value is None or math.isfinite(value)


@TEXT
@given(st.binary(max_size=300))
def test_scpi_emulator_command_parser(data):
    ScpiEmulator(constant(1.0)).answer(data + b"\n")


@TEXT
@given(st.text(max_size=300))
def test_tegrastats_and_pmic_parsers(text):
    assert all(w >= 0 for w in parse_line(text).values())
    assert all(math.isfinite(w) for w in parse_pmic(text).values())
