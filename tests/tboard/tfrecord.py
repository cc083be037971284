"""TFRecord framing, read independently of hpc: records of a u64 length
(little-endian), its masked CRC32C, the data, the data's masked CRC32C.
Shared by check_events.py and check_hparams.py."""
import glob
import os
import struct


def crc32c(data):
    # table-driven, reflected Castagnoli polynomial (independent of hpc's)
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283, "the test's own CRC32C is wrong"


def event_files(tb_dir):
    """A TensorBoard run's event files, oldest first."""
    return sorted(glob.glob(os.path.join(tb_dir, "events.out.tfevents.*")), key=os.path.getmtime)


def read_records(path, message, bad):
    """The messages (of class `message`) of one file, checking each record's
    framing; problems go to bad(text)."""
    raw = open(path, "rb").read()
    out = []
    pos = 0
    while pos < len(raw):
        if pos + 12 > len(raw):
            bad("%s: a truncated record header at byte %d" % (path, pos))
            break
        (n,) = struct.unpack_from("<Q", raw, pos)
        (lcrc,) = struct.unpack_from("<I", raw, pos + 8)
        if lcrc != masked(raw[pos:pos + 8]):
            bad("record at byte %d: the length's CRC is wrong" % pos)
        data = raw[pos + 12:pos + 12 + n]
        if pos + 12 + n + 4 > len(raw):
            bad("%s: a truncated record at byte %d" % (path, pos))
            break
        (dcrc,) = struct.unpack_from("<I", raw, pos + 12 + n)
        if dcrc != masked(data):
            bad("record at byte %d: the data's CRC is wrong" % pos)
        m = message()
        m.ParseFromString(data)
        out.append(m)
        pos += 12 + n + 4
    return out
