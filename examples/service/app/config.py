"""Configuration, read from the environment only (12-factor; nothing on disk)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit, urlunsplit


class ConfigError(ValueError):
    """Raised for configuration the service must refuse to start with."""


class Fault(str, Enum):
    """Deliberate breakage baked into an image, to test the deploy tooling's gates."""

    NONE = ""
    READINESS = "readiness"  # /health/ready always 503
    MIGRATION = "migration"  # `alembic upgrade` fails before touching the schema
    ERRORS = "errors"  # item routes answer 500 (5xx-ratio gate)
    SLOW = "slow"  # item routes take ~1.5 s (latency gate)
    CRASH = "crash"  # process exits at startup


def parse_fault(raw: str | None) -> Fault:
    """Map APP_FAULT to a Fault; unknown values are an error, not silently ignored,
    so a typo in a build arg cannot ship a "healthy" image by accident."""
    value = (raw or "").strip().lower()
    try:
        return Fault(value)
    except ValueError:
        known = ", ".join(f.value for f in Fault if f.value)
        raise ConfigError(f"unknown APP_FAULT={raw!r}; expected empty or one of: {known}") from None


def normalize_database_url(url: str) -> str:
    """Force the psycopg 3 driver: a bare postgresql:// URL would make SQLAlchemy
    look for psycopg2, which the image does not ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def redact_url(url: str) -> str:
    """URL with any password replaced, safe for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    version: str
    fault: Fault


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    missing = [k for k in ("DATABASE_URL", "REDIS_URL") if not env.get(k)]
    if missing:
        raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")
    return Settings(
        database_url=normalize_database_url(env["DATABASE_URL"]),
        redis_url=env["REDIS_URL"],
        # Baked by the Dockerfile; "0.0.0-dev" only when run from a checkout.
        version=env.get("APP_VERSION") or "0.0.0-dev",
        fault=parse_fault(env.get("APP_FAULT")),
    )
