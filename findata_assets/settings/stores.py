"""Where the tables and raw snapshots go: storage settings from the environment, validated.

Nothing configured means the embedded defaults: a SQLite file `<home>/findata.db` for the tables
and a local folder `<home>/archive` for the raw snapshots. MySQL/MariaDB and any S3 endpoint
(MinIO, SeaweedFS, AWS) are switched on by environment variables:

    FINDATA_HOME            base folder of the embedded defaults (default ./.findata)
    FINDATA_DATABASE_URL    SQLAlchemy URL, e.g. mysql+pymysql://user:pass@host:3306/findata
    FINDATA_S3_ENDPOINT     http(s)://host[:port] of the S3 service; unset = local archive folder
    FINDATA_S3_BUCKET       bucket name (default "findata")
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY   required when FINDATA_S3_ENDPOINT is set
    AWS_REGION / AWS_DEFAULT_REGION             default us-east-1
    FINDATA_DATABASE_TIMEOUT_S  seconds a database connect, read or write may take (default 30)

A malformed value raises `SettingsError` naming the variable. Secrets (the secret key, the
password inside the database URL) never appear in an error, in `repr()` or in `redacted()`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from findata_assets import environment
from findata_assets.redaction import MASK, mask_url
from findata_assets.settings.values import SettingsError, number, text

DEFAULT_HOME = ".findata"
DEFAULT_BUCKET = "findata"
DEFAULT_REGION = "us-east-1"

ENV_HOME = "FINDATA_HOME"
ENV_DATABASE_URL = "FINDATA_DATABASE_URL"
ENV_S3_ENDPOINT = "FINDATA_S3_ENDPOINT"
ENV_S3_BUCKET = "FINDATA_S3_BUCKET"
ENV_ACCESS_KEY = "AWS_ACCESS_KEY_ID"
ENV_SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
ENV_REGIONS = ("AWS_REGION", "AWS_DEFAULT_REGION")
ENV_DATABASE_TIMEOUT = "FINDATA_DATABASE_TIMEOUT_S"
DEFAULT_DATABASE_TIMEOUT_S = 30.0  # a frozen server fails a run in well under a minute

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])$")
_KEY_RE = re.compile(r"^\S+$")


def _mask_key_id(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    return value[:4] + "..." if len(value) > 8 else MASK


def validate_database_url(value: str, variable: str = ENV_DATABASE_URL) -> str:
    """Check a SQLAlchemy URL without connecting; errors name `variable`, never the password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import NoSuchModuleError

    example = "e.g. mysql+pymysql://user:password@host:3306/findata or sqlite:////path/findata.db"
    try:
        url = make_url(value)
    except Exception:  # ArgumentError, ValueError (bad port) ... their text may echo the URL
        raise SettingsError(f"{variable} is not a valid SQLAlchemy URL ({example})") from None
    if url.host is not None and not _HOST_RE.match(url.host):
        raise SettingsError(
            f"{variable} has a malformed host part; percent-encode special characters such as "
            f"'@', ':' or '/' in the user name and password ({example})")
    if url.port is not None and not 0 < url.port < 65536:
        raise SettingsError(f"{variable} has a port outside 1-65535")
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise SettingsError(
            f"{variable} names an unknown database dialect {url.drivername!r} ({example})") from None
    try:
        dialect.import_dbapi()
    except ImportError:
        raise SettingsError(
            f"{variable} needs the driver of {url.drivername!r}, which is not installed; "
            f"use mysql+pymysql:// for MySQL/MariaDB") from None
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb"):
        if not url.host:
            raise SettingsError(f"{variable} must name a host for {backend}")
        if not url.database:
            raise SettingsError(f"{variable} must name a database (…/<database>) for {backend}")
        charset = url.query.get("charset")
        if charset is not None and charset != "utf8mb4":
            raise SettingsError(f"{variable} sets charset={charset}; only utf8mb4 is supported")
    return value


def validate_s3_endpoint(value: str, variable: str = ENV_S3_ENDPOINT) -> str:
    """`http(s)://host[:port]` with nothing else; returned without a trailing slash."""
    shape = "expected http(s)://host[:port], e.g. http://127.0.0.1:9000"
    parts = urlsplit(value)
    if "@" in parts.netloc:  # credentials in the URL: say so without echoing them
        raise SettingsError(f"{variable} must not carry credentials; set {ENV_ACCESS_KEY} and "
                            f"{ENV_SECRET_KEY} instead ({shape})")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{variable} is not an http(s) URL: {mask_url(value)!r} ({shape})")
    try:
        port = parts.port
    except ValueError:
        raise SettingsError(f"{variable} has an invalid port: {mask_url(value)!r} ({shape})") from None
    if port == 0:
        raise SettingsError(f"{variable} has an invalid port: {mask_url(value)!r} ({shape})")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError(f"{variable} must not have a path, query or fragment: {mask_url(value)!r} ({shape})")
    host = parts.hostname
    if not _HOST_RE.match(host) and not _HOST_RE.match(f"[{host}]"):
        raise SettingsError(f"{variable} has a malformed host: {mask_url(value)!r} ({shape})")
    return f"{parts.scheme}://{parts.netloc}"


def validate_bucket(value: str, variable: str = ENV_S3_BUCKET) -> str:
    """S3 bucket naming rules (3-63 chars, lowercase letters, digits, '.', '-')."""
    problem = None
    if not _BUCKET_RE.match(value):
        problem = ("must be 3-63 characters of lowercase letters, digits, '.' and '-', "
                   "starting and ending with a letter or digit")
    elif ".." in value or ".-" in value or "-." in value:
        problem = "must not contain '..', '.-' or '-.'"
    elif value.startswith(("xn--", "sthree-")) or value.endswith(("-s3alias", "--ol-s3")):
        problem = "uses a prefix or suffix reserved by S3"
    else:
        try:
            ipaddress.IPv4Address(value)
            problem = "must not look like an IP address"
        except ValueError:
            pass
    if problem:
        raise SettingsError(f"{variable}={value!r} is not a valid S3 bucket name: {problem}")
    return value


def s3_region(environ: Mapping[str, str]) -> tuple[str, str]:
    """(region, the variable it came from): AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1."""
    for name in ENV_REGIONS:
        if text(environ, name):
            return text(environ, name), name
    return DEFAULT_REGION, ENV_REGIONS[0]


@dataclass(frozen=True)
class Settings:
    """Where findata keeps its tables and raw snapshots. Build it with `Settings.from_env`."""

    home: Optional[Path]
    database_url: str = field(repr=False)
    s3_endpoint: Optional[str] = None
    s3_bucket: str = DEFAULT_BUCKET
    s3_region: str = DEFAULT_REGION
    aws_access_key_id: Optional[str] = field(default=None, repr=False)
    aws_secret_access_key: Optional[str] = field(default=None, repr=False)
    archive_dir: Optional[Path] = None
    database_timeout_s: float = DEFAULT_DATABASE_TIMEOUT_S
    database_url_from_env: bool = False  # FINDATA_DATABASE_URL set (not the embedded default)

    def __post_init__(self) -> None:
        # Accept str paths from callers (Dagster config) but always expose Path objects.
        for name in ("home", "archive_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.archive_dir is None and self.home is not None:
            object.__setattr__(self, "archive_dir", self.home / "archive")

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "Settings":
        environ = environment.current() if environ is None else environ

        raw_home = text(environ, ENV_HOME) or DEFAULT_HOME
        if "\x00" in raw_home:
            raise SettingsError(f"{ENV_HOME} contains a NUL character")
        home = Path(raw_home).expanduser()
        home = home if home.is_absolute() else Path.cwd() / home
        home = Path(os.path.normpath(home))
        if home.exists() and not home.is_dir():
            raise SettingsError(f"{ENV_HOME}={str(home)!r} exists and is not a directory")

        database_url = text(environ, ENV_DATABASE_URL)
        from_env = database_url is not None
        if database_url is None:
            database_url = f"sqlite:///{home / 'findata.db'}"
        else:
            validate_database_url(database_url)

        endpoint = text(environ, ENV_S3_ENDPOINT)
        if endpoint is not None:
            endpoint = validate_s3_endpoint(endpoint)
        bucket = validate_bucket(text(environ, ENV_S3_BUCKET) or DEFAULT_BUCKET)

        region, region_var = s3_region(environ)
        if not _REGION_RE.match(region):
            raise SettingsError(f"{region_var}={region!r} is not a valid region name "
                                f"(lowercase letters, digits and '-', e.g. us-east-1)")

        access_key = text(environ, ENV_ACCESS_KEY)
        secret_key = text(environ, ENV_SECRET_KEY)
        if endpoint is not None:
            missing = [n for n, v in ((ENV_ACCESS_KEY, access_key), (ENV_SECRET_KEY, secret_key))
                       if v is None]
            if missing:
                raise SettingsError(f"{ENV_S3_ENDPOINT} is set, so {' and '.join(missing)} "
                                    f"must be set too")
            if not _KEY_RE.match(access_key):
                raise SettingsError(f"{ENV_ACCESS_KEY} must not contain whitespace")
            if not _KEY_RE.match(secret_key):
                raise SettingsError(f"{ENV_SECRET_KEY} must not contain whitespace")

        timeout = number(environ, ENV_DATABASE_TIMEOUT, DEFAULT_DATABASE_TIMEOUT_S, float, 1, 3600,
                         unit="seconds")

        return cls(
            home=home,
            database_url=database_url,
            database_url_from_env=from_env,
            database_timeout_s=timeout,
            s3_endpoint=endpoint,
            s3_bucket=bucket,
            s3_region=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            archive_dir=home / "archive",
        )

    @property
    def uses_s3(self) -> bool:
        return self.s3_endpoint is not None

    @property
    def database_backend(self) -> str:
        """"sqlite", "mysql", "mariadb", ... (from the URL's dialect name)."""
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).get_backend_name()

    def redacted(self) -> dict[str, Any]:
        """Everything worth logging, with the DB password and the S3 secret masked."""
        return {
            "home": str(self.home) if self.home is not None else None,
            "database_url": mask_url(self.database_url) if self.database_url else None,
            "s3_endpoint": self.s3_endpoint,
            "s3_bucket": self.s3_bucket,
            "s3_region": self.s3_region,
            "aws_access_key_id": _mask_key_id(self.aws_access_key_id),
            "aws_secret_access_key": MASK if self.aws_secret_access_key else None,
            "archive_dir": str(self.archive_dir) if self.archive_dir is not None else None,
            "archive": (f"s3://{self.s3_bucket} ({self.s3_endpoint})" if self.uses_s3
                        else str(self.archive_dir)),
        }

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.redacted().items() if k != "archive")
        return f"Settings({fields})"

    __str__ = __repr__
