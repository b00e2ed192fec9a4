"""Streamed base64 lines and ASCII Armor (RFC 9580 6.2): any chunking gives the same text,
libgcrypt's CRC-24 is the armor checksum, and gpg reads the armor e2email writes."""

from __future__ import annotations

import base64
import os
import random
import subprocess
from collections.abc import Callable

import pytest

from e2email.adapters.openpgp import crc24
from e2email.core.base64text import ARMOR_HEAD, ARMOR_TAIL, Armor, Lines, base64_lines
from tests.support import GpgHome


def chunked(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(data):
        step = rng.randint(1, 300)
        out.append(data[pos : pos + step])
        pos += step
    return out


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 5000])
def test_lines_do_not_depend_on_how_the_input_is_cut(size: int) -> None:
    data = os.urandom(size)
    whole = base64_lines(data) + (b"\r\n" if data else b"")
    for seed in range(5):
        lines = Lines()
        text = b"".join(lines.feed(c) for c in chunked(data, seed)) + lines.finish()
        assert text == whole
    assert base64.b64decode(whole.replace(b"\r\n", b"")) == data


def test_armor_frames_the_packets() -> None:
    armor = Armor()
    text = armor.feed(b"\x84\x5e") + armor.finish()
    assert text.startswith(ARMOR_HEAD) and text.endswith(ARMOR_TAIL)
    body = text[len(ARMOR_HEAD) : -len(ARMOR_TAIL)]
    assert base64.b64decode(body) == b"\x84\x5e" and b"=" not in body.split(b"\r\n")[-2][:1]


def crc24_reference(data: bytes) -> bytes:
    """RFC 9580 6.1.1, bit by bit."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return (crc & 0xFFFFFF).to_bytes(3, "big")


def test_libgcrypt_crc24_is_the_armor_checksum() -> None:
    data = os.urandom(5000)
    checksum = crc24.new()
    assert checksum is not None, "libgcrypt (gpg's library) should be loadable here"
    for piece in chunked(data, 2):
        checksum.update(piece)
    assert checksum.digest() == crc24_reference(data)


def test_gpg_decrypts_what_is_armored_here(gpg_home: Callable[..., GpgHome]) -> None:
    # gpg 2.2 misreads armor without a checksum when the base64 has no padding (length a
    # multiple of 3): every residue is tried, each must decrypt cleanly (exit 0).
    alice = gpg_home(public=["bob"])
    bob = gpg_home(secret=["bob"])
    residues: set[int] = set()
    size = 200_000
    while len(residues) < 3:
        plain = os.urandom(size)
        size += 1
        packets = alice.run("--encrypt", "-r", "bob@example.test", data=plain).stdout
        if len(packets) % 3 in residues:
            continue
        residues.add(len(packets) % 3)
        armor = Armor(crc24.new())
        text = b"".join(armor.feed(c) for c in chunked(packets, size)) + armor.finish()
        assert max(len(line) for line in text.split(b"\r\n")) <= 76
        p = subprocess.run(
            ["gpg", "--homedir", str(bob.path), "--batch", "--decrypt"],
            input=text,
            capture_output=True,
            check=False,
        )
        assert p.returncode == 0, p.stderr.decode()
        assert p.stdout == plain
