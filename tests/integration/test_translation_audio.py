"""Voice clips: only whole OGG/Opus files are taken; MP3, WAV and damaged files are refused
with a message saying what to do."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bot.features.translations.audio import ClipError, check_clip, ogg_opus, store_clip


def test_a_valid_ogg_opus_clip_is_measured():
    info = check_clip(ogg_opus(45))
    assert info.seconds == 45 and info.channels == 1 and info.advised_length
    assert not check_clip(ogg_opus(12)).advised_length


def _wav() -> bytes:
    pcm = b"\0\0" * 8000
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data"
            + struct.pack("<I", len(pcm)) + pcm)


@pytest.mark.parametrize(("data", "message"), [
    (b"ID3\x04\x00" + b"\0" * 200, "This is a MP3 file"),
    (b"\xff\xfb\x90\x00" + b"\0" * 200, "This is a MP3 file"),
    (_wav(), "This is a WAV file"),
    (b"OggS\x00\x02" + b"\0" * 22 + b"\x01vorbis", "This is a OGG Vorbis file"),
    (b"", "The file is empty."),
    (b"hello, not audio", "This is not an OGG/Opus file"),
    (ogg_opus(30)[:-7], "damaged or cut off"),
])
def test_other_formats_and_broken_files_are_refused_clearly(data, message):
    with pytest.raises(ClipError) as caught:
        check_clip(data)
    assert message in str(caught.value)
    if "MP3" in message or "WAV" in message:
        assert "ffmpeg" in str(caught.value) and "libopus" in str(caught.value)


def test_a_flipped_byte_is_caught_by_the_page_checksum():
    data = bytearray(ogg_opus(30))
    data[len(data) // 2] ^= 0x01
    with pytest.raises(ClipError, match="checksum"):
        check_clip(bytes(data))


def test_too_long_clip_is_refused():
    with pytest.raises(ClipError, match="seconds long"):
        check_clip(ogg_opus(400))


def test_stored_clip_is_named_by_language_topic_and_hash(tmp_path):
    data = ogg_opus(31)
    info = check_clip(data)
    path = store_clip(tmp_path, "jra", "switch", data, info)
    assert path == f"jra/switch-{info.sha256[:12]}.ogg"
    assert (tmp_path / path).read_bytes() == data
    assert [p.name for p in (tmp_path / "jra").iterdir()] == [Path(path).name]


def test_every_clip_message_and_page_message_has_vietnamese():
    import ast
    import inspect

    from support.catalogs import vietnamese_msgids

    import bot.features.translations.audio
    from bot.core.i18n import LANGUAGE_NAMES
    from bot.features.translations.web import DONE
    tree = ast.parse(inspect.getsource(bot.features.translations.audio))
    msgids = {node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
              and getattr(node.func, "id", "") == "ClipError" and node.args
              and isinstance(node.args[0], ast.Constant)}
    assert len(msgids) >= 8
    missing = (msgids | set(DONE.values()) | set(LANGUAGE_NAMES.values())) - vietnamese_msgids()
    assert missing == set()
