"""What the Helm hook Job (`python -m findata_assets.deploy.prepare`) reads: the application's
database URL and bucket, and the administrator credentials that create them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from findata_assets.settings.stores import DEFAULT_BUCKET, DEFAULT_REGION, s3_region
from findata_assets.settings.values import choice, number, text


@dataclass(frozen=True)
class PrepareSettings:
    database_url: str = field(default="", repr=False)  # FINDATA_DATABASE_URL (has the password)
    mysql_admin_url: Optional[str] = field(default=None, repr=False)  # FINDATA_MYSQL_ADMIN_URL
    mysql_user_host: str = "%"  # FINDATA_MYSQL_USER_HOST
    mysql_grants: Optional[str] = None  # FINDATA_MYSQL_GRANTS, comma-separated
    s3_endpoint: Optional[str] = None
    s3_bucket: str = DEFAULT_BUCKET
    s3_access_key_id: str = field(default="", repr=False)  # the admin key, else the app's
    s3_secret_access_key: str = field(default="", repr=False)
    s3_region: str = DEFAULT_REGION
    wait_s: float = 120.0  # FINDATA_PREPARE_WAIT_SECONDS: servers may start after the Job
    compat_views: bool = False  # FINDATA_COMPAT_VIEWS: the original crawler's tables as views

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "PrepareSettings":
        return cls(
            database_url=text(environ, "FINDATA_DATABASE_URL", ""),
            mysql_admin_url=text(environ, "FINDATA_MYSQL_ADMIN_URL"),
            mysql_user_host=text(environ, "FINDATA_MYSQL_USER_HOST", "%"),
            mysql_grants=text(environ, "FINDATA_MYSQL_GRANTS"),
            s3_endpoint=text(environ, "FINDATA_S3_ENDPOINT"),
            s3_bucket=text(environ, "FINDATA_S3_BUCKET", DEFAULT_BUCKET),
            s3_access_key_id=text(environ, "FINDATA_S3_ADMIN_ACCESS_KEY_ID")
            or text(environ, "AWS_ACCESS_KEY_ID", ""),
            s3_secret_access_key=text(environ, "FINDATA_S3_ADMIN_SECRET_ACCESS_KEY")
            or text(environ, "AWS_SECRET_ACCESS_KEY", ""),
            s3_region=s3_region(environ)[0],
            wait_s=number(environ, "FINDATA_PREPARE_WAIT_SECONDS", 120.0, float, 0,
                          unit="seconds"),
            compat_views=choice(environ, "FINDATA_COMPAT_VIEWS", ("true", "false"),
                                "false") == "true",
        )
