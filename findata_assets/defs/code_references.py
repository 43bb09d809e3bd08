"""The UI's "open in source" links: every asset (its checks are in the same definition) points
at the file and line of its function, and, where the repository is known, at that line in the
repository's web view: FINDATA_CODE_URL and FINDATA_CODE_BRANCH, else the `origin` remote of the
checkout the code runs from (none in a container image: local file and line only)."""

from __future__ import annotations

import configparser
import re
import warnings
from pathlib import Path
from typing import Optional, Sequence

import dagster as dg

from findata_assets.settings import FindataSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_ANCHOR = "setup.py"  # a file at the repository's root: maps local paths to repository paths


def with_code_references(assets: Sequence, settings: FindataSettings) -> list:
    with warnings.catch_warnings():  # the code-reference API is marked beta in 1.13
        warnings.simplefilter("ignore", dg.BetaWarning)
        referenced = dg.with_source_code_references(list(assets))
        url, branch = settings.code_links.url or _origin_url(), settings.code_links.branch
        if not url:
            return list(referenced)
        return list(dg.link_code_references_to_git(
            referenced, git_url=url, git_branch=branch,
            file_path_mapping=dg.AnchorBasedFilePathMapping(
                local_file_anchor=PROJECT_ROOT / _ANCHOR, file_anchor_path_in_repository=_ANCHOR)))


def _origin_url(root: Path = PROJECT_ROOT) -> Optional[str]:
    """The web URL of the checkout's `origin` remote (git@host:org/repo.git -> https://...)."""
    config = root / ".git" / "config"
    if not config.is_file():
        return None
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read(config, encoding="utf-8")
        remote = parser.get('remote "origin"', "url", fallback=None)
    except configparser.Error:
        return None
    if not remote:
        return None
    match = re.match(r"^(?:ssh://)?git@([^:/]+)[:/](.+?)(?:\.git)?/?$", remote)
    if match:
        return f"https://{match.group(1)}/{match.group(2)}"
    if remote.startswith(("https://", "http://")):
        return re.sub(r"\.git/?$", "", re.sub(r"//[^@/]+@", "//", remote))  # no credentials
    return None  # a local path or another protocol: nothing a browser opens
