"""Where Noto Sans is: every image and PDF Loa renders embeds it (../shared/languages.md)."""
from __future__ import annotations

import os
from pathlib import Path

NOTO_DIRS = (Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/noto"))


class FontMissing(RuntimeError):
    pass


def noto(style: str = "Regular") -> Path:
    """Path of NotoSans-<style>.ttf (Debian package fonts-noto-core; BOT_NOTO_DIR overrides)."""
    dirs = ((Path(os.environ["BOT_NOTO_DIR"]),) if os.environ.get("BOT_NOTO_DIR") else ()) \
        + NOTO_DIRS
    for folder in dirs:
        path = folder / f"NotoSans-{style}.ttf"
        if path.is_file():
            return path
    raise FontMissing(f"NotoSans-{style}.ttf not found in {', '.join(map(str, dirs))}; "
                      "install the Debian package fonts-noto-core (make fonts)")
