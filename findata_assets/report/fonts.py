"""A CJK-capable font for the charts, or an explicit fallback to codes.

matplotlib's default DejaVu Sans has no Chinese glyphs: names would render as tofu boxes. We look
for a font that really covers Chinese (checked glyph by glyph, not by name only):

1. FINDATA_REPORT_FONT: a font file path (.ttf/.otf/.ttc) chosen by the operator;
2. a known CJK family matplotlib already knows (Noto Sans CJK SC, WenQuanYi Zen Hei, ...);
3. font files of those families in the system font folders (matplotlib's font cache is built
   once, so fonts installed later are missing from it until added here).

On Debian/Ubuntu: `apt-get install fonts-wqy-zenhei` (7 MB) or `fonts-noto-cjk` (56 MB); the
container image should carry one. With none found the charts use security codes instead of
names and English titles, and the report's metadata says so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Sarasa Gothic SC", "Droid Sans Fallback",
    "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "AR PL UMing CN",
)
# file-name hints of the same families, for fonts not yet in matplotlib's cache
FILE_HINTS = ("notosanscjk", "notosanssc", "sourcehansans", "wqy", "wenquanyi", "sarasa",
              "droidsansfallback", "simhei", "msyh", "pingfang")
PROBE = "资金流向主力净流入沪深板块贵州茅台"
INSTALL_HINT = "apt-get install fonts-wqy-zenhei (or fonts-noto-cjk), or set FINDATA_REPORT_FONT"


@dataclass(frozen=True)
class FontChoice:
    family: str
    path: str
    source: str  # env | cache | system


def covers_cjk(path: str) -> bool:
    """True when the font file has a glyph for every probe character."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
        return all(font.get_char_index(ord(ch)) for ch in PROBE)
    except Exception:  # noqa: BLE001 - unreadable or unsupported font file: not usable
        return False


def _register(path: str) -> Optional[str]:
    from matplotlib import font_manager

    try:
        before = {f.fname: f.name for f in font_manager.fontManager.ttflist}
        if path not in before:
            font_manager.fontManager.addfont(path)
        return next(f.name for f in font_manager.fontManager.ttflist if f.fname == path)
    except Exception:  # noqa: BLE001
        return None


def cjk_font(preferred: str = "") -> Optional[FontChoice]:
    """The CJK font to use: `preferred` (FINDATA_REPORT_FONT, a file) first, or None."""
    return find_cjk_font(preferred.strip())


@functools.lru_cache(maxsize=4)  # scanning the system fonts takes a while: once per process
def find_cjk_font(env_path: str = "") -> Optional[FontChoice]:
    """The first usable CJK font (see the module docstring), or None. An env_path that is
    missing or lacks Chinese glyphs is passed over for the next candidate."""
    from matplotlib import font_manager

    if env_path:
        if Path(env_path).is_file() and covers_cjk(env_path) and (name := _register(env_path)):
            return FontChoice(name, env_path, "env")
    known = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known and covers_cjk(known[family]):
            return FontChoice(family, known[family], "cache")
    # fontext="ttf" covers .ttf, .otf and .ttc collections
    for path in sorted(font_manager.findSystemFonts(fontext="ttf")):
        stem = Path(path).name.lower().replace("-", "").replace("_", "")
        if any(h in stem for h in FILE_HINTS) and covers_cjk(path) and (name := _register(path)):
            return FontChoice(name, path, "system")
    return None

