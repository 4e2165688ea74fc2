"""Where the stored members of a plain zip archive lie, from its central directory, read once.

:func:`stored_members` reads an archive's end records and central directory (and each
member's local header) exactly as :mod:`zipfile` reads them (``_EndRecData``,
``_EndRecData64``, ``ZipFile._RealGetContents``, ``ZipInfo._decodeExtra``,
``ZipFile.open``), and returns where each member's bytes start. A member found here is
therefore the very bytes :mod:`zipfile` would give, and the caller reads them with one
``os.pread`` instead of a ``ZipExtFile`` (the CRC-32 is still the caller's to check).

Only archives laid out the way ``np.savez`` and predaudit's Recorder
(:mod:`predaudit.record.npzwrite`) write them are taken: the end record at the very end
(no comment), ZIP64 end records right before it or none, the central directory right
before those (nothing prepended), every member stored (method 0), unencrypted, with an
ASCII name, no extra field but ZIP64's, one size. For anything else the answer is None
and the caller opens the archive with :mod:`zipfile`, whose errors (or success) then
decide: nothing unusual is ever judged here.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

ZIP_END = struct.Struct("<4s4H2LH")  # zipfile.structEndArchive, 22 bytes
ZIP_LOCATOR64 = struct.Struct("<4sLQL")  # zipfile.structEndArchive64Locator, 20 bytes
ZIP_END64 = struct.Struct("<4sQ2H2L4Q")  # zipfile.structEndArchive64, 56 bytes
ZIP_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # zipfile.structCentralDir, 46 bytes
ZIP_LOCAL = struct.Struct("<4s2B4HL2L2H")  # zipfile.structFileHeader, 30 bytes
_MAX_EXTRACT_VERSION = 63  # zipfile.MAX_EXTRACT_VERSION
_PLAIN_FLAGS = 0x0808  # a data descriptor (bit 3), UTF-8 names (bit 11): stored bytes read alike
_MAX_DIRECTORY = 1 << 24  # a larger central directory is left to zipfile
_U32 = 0xFFFFFFFF

WHOLE_FILE_BYTES = 1 << 22
"""Archives up to this size (4 MiB) are read whole, with one system call."""


@dataclass(frozen=True)
class StoredMember:
    """One stored member: its name, where its bytes start, how many, and the CRC-32 the
    central directory declares for them."""

    name: str
    start: int
    size: int
    crc: int


def read_at(fd: int, n: int, offset: int) -> bytes:
    """``n`` bytes of ``fd`` from ``offset`` (fewer only at the end of the file)."""
    data = os.pread(fd, n, offset)
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = os.pread(fd, n - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class _Bytes:
    """The archive's bytes: the whole file when it is small, else read where asked."""

    def __init__(self, fd: int, size: int, whole: bytes | None) -> None:
        self.fd, self.size, self.whole = fd, size, whole

    def get(self, offset: int, n: int) -> bytes:
        if self.whole is not None:
            return self.whole[offset : offset + n]
        return read_at(self.fd, n, offset)


def stored_members(fd: int, size: int, whole: bytes | None = None) -> list[StoredMember] | None:
    """The members of the archive open as ``fd`` (``size`` bytes; ``whole``: all of them,
    when already read), in central-directory order; None unless it is a plain archive of
    stored members (then let :mod:`zipfile` read it)."""
    try:
        return _members(_Bytes(fd, size, whole))
    except (OSError, struct.error, UnicodeDecodeError):
        return None


def _members(src: _Bytes) -> list[StoredMember] | None:
    size = src.size
    if size < ZIP_END.size:
        return None
    location = size - ZIP_END.size
    end = ZIP_END.unpack(src.get(location, ZIP_END.size))
    if end[0] != b"PK\005\006" or end[7] != 0:  # an end record with no comment, at the end
        return None
    size_cd, offset_cd = end[5], end[6]
    concat = location - size_cd - offset_cd
    if location >= ZIP_LOCATOR64.size:
        loc = ZIP_LOCATOR64.unpack(src.get(location - ZIP_LOCATOR64.size, ZIP_LOCATOR64.size))
        if loc[0] == b"PK\006\007":
            at = location - ZIP_LOCATOR64.size - ZIP_END64.size
            if loc[1] != 0 or loc[3] > 1 or at < 0:
                return None  # zipfile refuses (several disks) or reads it otherwise
            end64 = ZIP_END64.unpack(src.get(at, ZIP_END64.size))
            if end64[0] != b"PK\006\006":
                return None
            size_cd, offset_cd = end64[8], end64[9]
            concat = location - size_cd - offset_cd - ZIP_END64.size - ZIP_LOCATOR64.size
    if concat != 0 or size_cd > _MAX_DIRECTORY:
        return None
    directory = src.get(offset_cd, size_cd)
    if len(directory) != size_cd:
        return None
    out: list[StoredMember] = []
    pos = 0
    while pos < size_cd:
        if pos + ZIP_CENTRAL.size > size_cd:
            return None
        cd = ZIP_CENTRAL.unpack_from(directory, pos)
        name_len, extra_len, comment_len = cd[12], cd[13], cd[14]
        name_at = pos + ZIP_CENTRAL.size
        pos = name_at + name_len + extra_len + comment_len
        if cd[0] != b"PK\001\002" or pos > size_cd:
            return None
        flags, method, crc, csize, usize, offset = cd[5], cd[6], cd[9], cd[10], cd[11], cd[18]
        if cd[3] > _MAX_EXTRACT_VERSION or flags & ~_PLAIN_FLAGS or method != 0:
            return None
        raw_name = directory[name_at : name_at + name_len]
        if not raw_name.isascii() or b"\0" in raw_name:
            return None
        extra = directory[name_at + name_len : name_at + name_len + extra_len]
        sizes = _zip64(extra, usize, csize, offset)
        if sizes is None:
            return None
        usize, csize, offset = sizes
        if usize != csize:
            return None
        start = _data_start(src, offset, raw_name)
        if start is None or start + usize > size:
            return None
        out.append(StoredMember(raw_name.decode("ascii"), start, usize, crc))
    return out if pos == size_cd else None


def _zip64(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int] | None:
    """The sizes and offset with a ZIP64 extra field applied (``ZipInfo._decodeExtra``); None
    for any other extra field or a damaged one."""
    if not extra:
        return usize, csize, offset
    if len(extra) < 4:
        return None
    tp, ln = struct.unpack_from("<HH", extra)
    if tp != 1 or ln + 4 != len(extra):
        return None
    data = extra[4:]
    values = [usize, csize, offset]  # read from the field in this order, each when it is 2**32-1
    for i, value in enumerate(values):
        if value == _U32:
            if len(data) < 8:
                return None
            (values[i],) = struct.unpack_from("<Q", data)
            data = data[8:]
    usize, csize, offset = values
    return usize, csize, offset


def _data_start(src: _Bytes, offset: int, name: bytes) -> int | None:
    """Where a member's bytes start after its local header at ``offset``; None unless the
    header is there and names the member as the central directory does."""
    head = src.get(offset, ZIP_LOCAL.size)
    if len(head) != ZIP_LOCAL.size:
        return None
    local = ZIP_LOCAL.unpack(head)
    if local[0] != b"PK\003\004" or local[10] != len(name):
        return None
    if src.get(offset + ZIP_LOCAL.size, len(name)) != name:
        return None
    return offset + ZIP_LOCAL.size + local[10] + local[11]
