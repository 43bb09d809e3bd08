"""The report as one self-contained HTML page, for a browser that opens it from a link.

The stored `report.md` links its charts relatively (`charts/top_flows.png`), which works in a
downloaded folder but not behind a presigned URL (each object needs its own signature) nor in the
Dagster UI (which cannot reach a local folder). So the copy meant for a browser carries its charts
as `data:` URIs: the UI's Markdown preview and `report.html` show them wherever they are opened.
"""

from __future__ import annotations

import base64
import html
from typing import Mapping

import markdown as md

_STYLE = """
body { font-family: -apple-system, "Segoe UI", "PingFang SC", "Noto Sans CJK SC",
       "WenQuanYi Zen Hei", sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.5; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f4f4f4; }
td { text-align: right; }
img { max-width: 100%; }
blockquote { color: #555; border-left: 4px solid #ddd; margin-left: 0; padding-left: 1em; }
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def embedded_links(images: Mapping[str, bytes]) -> dict[str, str]:
    """Chart file name -> a data: URI that carries the image itself."""
    return {name: data_uri(png) for name, png in images.items()}


def page(markdown_text: str, title: str, lang: str) -> str:
    """A whole HTML document from the report's Markdown (tables included)."""
    body = md.markdown(markdown_text, extensions=["tables"], output_format="html")
    return (f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")
