"""Voice clips: checking an upload is OGG/Opus (what Telegram plays as a voice note) and
storing it under content/media/<lang>/. No converter is installed, so MP3, WAV and other
formats are refused with a message saying how to convert them."""
from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 3 * 1024 * 1024          # about 6 minutes at 64 kbit/s; station clips are 30-60 s
MAX_SECONDS = 300
ADVISED = (30, 60)                    # seconds (../shared/languages.md)
OPUS_RATE = 48_000                    # Opus granule positions count 48 kHz samples
CONVERT_HINT = "ffmpeg -i clip.mp3 -c:a libopus -b:a 32k -ac 1 clip.ogg"


class ClipError(ValueError):
    """An upload that is not a usable voice clip; `msgid` is an interface string."""

    def __init__(self, msgid: str, **values: object) -> None:
        super().__init__(msgid.format(**values) if values else msgid)
        self.msgid = msgid
        self.values = values


@dataclass(frozen=True)
class ClipInfo:
    sha256: str
    size: int
    seconds: float
    channels: int

    @property
    def advised_length(self) -> bool:
        return ADVISED[0] <= self.seconds <= ADVISED[1]


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def ogg_crc(data: bytes) -> int:
    """The Ogg page checksum (CRC-32, polynomial 0x04C11DB7, not reflected)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) & 0xFF) ^ byte]
    return crc


def _other_format(data: bytes) -> str | None:
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "MP3"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "WAV"
    if data[:4] == b"fLaC":
        return "FLAC"
    if data[4:8] == b"ftyp":
        return "M4A/MP4"
    if data[:4] == b"OggS" and b"\x01vorbis" in data[:200]:
        return "OGG Vorbis"
    return None


def check_clip(data: bytes) -> ClipInfo:
    """Check an upload is a whole OGG/Opus file; raises ClipError with the reason."""
    if not data:
        raise ClipError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ClipError("The file is larger than {mb} MB; a 30–60 second clip is much smaller.",
                        mb=MAX_BYTES // (1024 * 1024))
    other = _other_format(data)
    if other is not None:
        raise ClipError("This is a {format} file. Loa takes OGG/Opus voice clips only (what "
                        "Telegram plays as a voice note) and cannot convert here. Convert it "
                        "first, for example: {command}", format=other, command=CONVERT_HINT)
    pages = list(_pages(data))
    first = pages[0][1] if pages else b""
    if not first.startswith(b"OpusHead") or len(first) < 19:
        raise ClipError("This is not an OGG/Opus file. Convert it first, for example: "
                        "{command}", command=CONVERT_HINT)
    channels = first[9]
    pre_skip = struct.unpack_from("<H", first, 10)[0]
    if len(pages) < 2 or not pages[1][1].startswith(b"OpusTags"):
        raise ClipError("The OGG/Opus file is damaged (no OpusTags header).")
    granule = max((g for g, _ in pages if g >= 0), default=0)
    seconds = (granule - pre_skip) / OPUS_RATE
    if seconds <= 0:
        raise ClipError("The clip contains no sound.")
    if seconds > MAX_SECONDS:
        raise ClipError("The clip is {seconds} seconds long; keep it under {limit} seconds "
                        "(30–60 seconds is best).", seconds=round(seconds), limit=MAX_SECONDS)
    return ClipInfo(hashlib.sha256(data).hexdigest(), len(data), round(seconds, 2), channels)


def _pages(data: bytes) -> list[tuple[int, bytes]]:
    """(granule position, first bytes of the page's data) of every Ogg page, checked."""
    out = []
    offset = 0
    while offset < len(data):
        if data[offset:offset + 4] != b"OggS" or len(data) < offset + 27:
            if offset == 0:
                raise ClipError("This is not an OGG/Opus file. Convert it first, for example: "
                                "{command}", command=CONVERT_HINT)
            raise ClipError("The OGG/Opus file is damaged or cut off; export it again.")
        granule, = struct.unpack_from("<q", data, offset + 6)
        crc, = struct.unpack_from("<I", data, offset + 22)
        count = data[offset + 26]
        sizes = data[offset + 27:offset + 27 + count]
        end = offset + 27 + count + sum(sizes)
        if len(sizes) < count or end > len(data):
            raise ClipError("The OGG/Opus file is damaged or cut off; export it again.")
        page = bytearray(data[offset:end])
        page[22:26] = b"\0\0\0\0"
        if ogg_crc(bytes(page)) != crc:
            raise ClipError("The OGG/Opus file is damaged (a checksum does not match); "
                            "export it again.")
        out.append((granule, data[offset + 27 + count:offset + 27 + count + 32]))
        offset = end
    return out


def store_clip(media: Path, lang: str, topic: str, data: bytes, info: ClipInfo) -> str:
    """Write the clip under media/<lang>/ (atomically); returns its path relative to media."""
    relative = f"{lang}/{topic}-{info.sha256[:12]}.ogg"
    target = media / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return relative


def ogg_opus(seconds: float, serial: int = 0x4C4F41) -> bytes:
    """A valid OGG/Opus file of silence (no encoder needed), for tests and examples."""
    pre_skip = 312
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, OPUS_RATE, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 3) + b"Loa" + struct.pack("<I", 0)
    out = [_page(0x02, 0, 0, serial, [head]), _page(0, 0, 1, serial, [tags])]
    frames = max(1, int(seconds * 50))          # 20 ms frames
    for seq, start in enumerate(range(0, frames, 50), start=2):
        count = min(50, frames - start)
        # TOC 0xF8: CELT fullband, 20 ms, one frame; a zero-length frame decodes as silence.
        out.append(_page(0x04 if start + count >= frames else 0,
                         pre_skip + (start + count) * 960, seq, serial, [b"\xf8"] * count))
    return b"".join(out)


def _page(flags: int, granule: int, seq: int, serial: int, packets: list[bytes]) -> bytes:
    """One Ogg page holding whole packets, each shorter than 255 bytes."""
    segments = bytes(len(p) for p in packets)
    header = (b"OggS" + bytes([0, flags]) + struct.pack("<qIII", granule, serial, seq, 0)
              + bytes([len(segments)]) + segments)
    raw = bytearray(header + b"".join(packets))
    raw[22:26] = struct.pack("<I", ogg_crc(bytes(raw)))
    return bytes(raw)
