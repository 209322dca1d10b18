"""The simulated ultravisor's secrets.bin, decoded here (for checks.sh and
twin.py), not by se-secretd: magic 'SESIMUV1', revision u64, wrapping key
(32), flags u8 (bit 0: extension secret, bit 1: CCK, 32 bytes each), count
u32, then count x (index u16, type u16, length u32, ID (32), value). All
big-endian (Sources/UVSimulator/StateCoding.swift)."""
import struct


def entries(raw):
    """(offset of the count, [(offset, index, ID hex, length)]); raises
    ValueError on a malformed file."""
    if raw[:8] != b"SESIMUV1":
        raise ValueError("secrets.bin: unknown format")
    at = 8 + 8 + 32
    flags = raw[at]
    at += 1 + 32 * ((flags & 1) + ((flags >> 1) & 1))
    count_at = at
    (count,) = struct.unpack(">I", raw[at:at + 4])
    at += 4
    out = []
    for _ in range(count):
        index, _type, length = struct.unpack(">HHI", raw[at:at + 8])
        out.append((at, index, raw[at + 8:at + 40].hex(), length))
        at += 40 + length
    if at != len(raw):
        raise ValueError("secrets.bin: trailing bytes")
    return count_at, out
