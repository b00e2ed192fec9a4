"""Structure-blind mutations of seed inputs, for hypothesis (libFuzzer does its own in make fuzz)."""

from __future__ import annotations

from hypothesis import strategies as st

# Bytes that matter to the parsers here: line ends, MIME and header syntax, ASN.1/OpenPGP
# length bytes, NUL, and UTF-8 lead bytes.
INTERESTING = b"\r\n\0\t ;:=\"'<>@,()[]\\-.%*+/\x7f\x80\xc3\xff\x30\x82\x83\x84\xa0\x06"

_piece = st.one_of(
    st.binary(max_size=8),
    st.sampled_from([bytes([b]) for b in INTERESTING]),
    st.sampled_from([b"\r\n\r\n", b"--", b"=?utf-8?q?", b"?=", b"boundary=", b"\xff" * 4,
                     b"\x80", b"-----BEGIN PGP", b"Content-Type: multipart/mixed; boundary=x\r\n"]),
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes], max_size: int = 1 << 16) -> bytes:
    """A seed (or random bytes) with up to eight insertions, deletions, overwrites, splices."""
    data = bytearray(draw(st.sampled_from(seeds)) if seeds else draw(st.binary(max_size=256)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["insert", "delete", "overwrite", "splice", "repeat", "cut"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(_piece)
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "overwrite" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == "splice" and seeds:
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(other)))
            data[at:] = other[start:]
        elif op == "repeat":
            data[at:at] = bytes(data[at : at + draw(st.integers(1, 32))]) * draw(st.integers(2, 50))
        elif op == "cut":
            del data[at:]
    return bytes(data[:max_size])
