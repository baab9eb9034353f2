"""FastAPI app: health, version, metrics and a tiny `items` CRUD on PostgreSQL + Redis.

Run: uvicorn app.main:app  (the image's CMD). Migrations: alembic upgrade head.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated
from urllib.parse import urlsplit

import redis
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine, create_engine, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker

from .config import ConfigError, Fault, Settings, load_settings, redact_url
from .metrics import DEPENDENCY_UP, MetricsMiddleware
from .schema import MIGRATIONS_HEAD, NOTE_ENABLED, Item

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("service")

SLOW_FAULT_SECONDS = 1.5
# Which container answered: lets a test see the front balancer spread requests across hosts.
INSTANCE = socket.gethostname()


class ItemCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    if NOTE_ENABLED:  # same switch as the ORM mapping (see schema.py)
        note: str | None = Field(default=None, max_length=2000)


def get_session(request: Request) -> Iterator[Session]:
    """One ORM session per request. Module level (not a closure) because FastAPI
    resolves the string annotations below against module globals."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def describe_error(exc: BaseException, secrets: list[str]) -> str:
    """One short line for a failed check. SQLAlchemy wraps the driver error and its
    str() adds the SQL and a docs link, so report the driver's first line; scrub
    passwords in case a driver ever echoes the DSN."""
    inner = getattr(exc, "orig", None) or exc
    lines = str(inner).strip().splitlines()
    msg = f"{type(inner).__name__}: {lines[0] if lines else ''}"[:300]
    for secret in secrets:
        msg = msg.replace(secret, "***")
    return msg


def read_schema_revision(engine: Engine) -> str | None:
    """`SELECT 1`, then alembic_version.version_num (None before the first migration).
    to_regclass avoids erroring (and aborting the transaction) when the table is absent."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
            return None
        rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return str(rev) if rev is not None else None


def create_app(settings: Settings) -> FastAPI:
    engine = create_engine(
        settings.database_url,
        pool_pre_ping=True,  # survive a DB restart without serving stale-connection errors
        pool_size=5,
        max_overflow=5,
        pool_timeout=5,
        connect_args={"connect_timeout": 2},  # readiness must fail fast, not hang
    )
    session_factory = sessionmaker(engine, expire_on_commit=False)
    # No retries: a readiness probe must report an outage within ~1 s, and item
    # requests should fail visibly rather than stall behind backoff.
    cache = redis.Redis.from_url(
        settings.redis_url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    # Scrubbed from error text; very short ones are skipped, as replacing e.g. "p"
    # would mangle every message while protecting nothing.
    secrets = [p for p in (make_url(settings.database_url).password, urlsplit(settings.redis_url).password)
               if p and len(p) >= 4]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info(
            "starting version=%s fault=%s note_column=%s migrations_head=%s database=%s redis=%s",
            settings.version, settings.fault.value or "none", NOTE_ENABLED, MIGRATIONS_HEAD,
            make_url(settings.database_url).render_as_string(hide_password=True),
            redact_url(settings.redis_url),
        )
        yield
        # Runs after uvicorn has drained in-flight requests (--timeout-graceful-shutdown).
        engine.dispose()
        cache.close()
        log.info("stopped")

    app = FastAPI(title="reference-service", version=settings.version, lifespan=lifespan)
    app.state.session_factory = session_factory
    app.add_middleware(MetricsMiddleware, routes=app.router.routes)

    async def fault_gate() -> None:
        if settings.fault is Fault.ERRORS:
            raise HTTPException(status_code=500, detail="injected fault: APP_FAULT=errors")
        if settings.fault is Fault.SLOW:
            await asyncio.sleep(SLOW_FAULT_SECONDS)

    item_deps = [Depends(fault_gate)]

    @app.get("/health/live")
    def live() -> dict[str, str]:
        return {"status": "live", "version": settings.version, "instance": INSTANCE}

    @app.get("/health/ready")
    async def ready() -> JSONResponse:
        if settings.fault is Fault.READINESS:
            return JSONResponse(
                status_code=503,
                content={"status": "not ready", "failed": ["fault"],
                         "checks": {"fault": "injected fault: APP_FAULT=readiness"},
                         "version": settings.version, "instance": INSTANCE},
            )

        # Both checks run concurrently in threads so the probe is bounded by the
        # slower timeout (~2 s), not their sum.
        async def check_db() -> str | None:
            return await asyncio.to_thread(read_schema_revision, engine)

        async def check_redis() -> None:
            await asyncio.to_thread(cache.ping)

        db_res, redis_res = await asyncio.gather(check_db(), check_redis(), return_exceptions=True)
        checks: dict[str, str] = {}
        failed: list[str] = []
        for name, res in (("database", db_res), ("redis", redis_res)):
            if isinstance(res, BaseException):
                checks[name] = describe_error(res, secrets)
                failed.append(name)
            else:
                checks[name] = "ok"
            DEPENDENCY_UP.labels(name).set(0 if name in failed else 1)
        if failed:
            log.warning("not ready: %s", checks)
            return JSONResponse(
                status_code=503,
                content={"status": "not ready", "failed": failed, "checks": checks, "version": settings.version,
                         "instance": INSTANCE},
            )
        revision = db_res if isinstance(db_res, str) else None
        return JSONResponse(
            content={"status": "ready", "version": settings.version, "schema_revision": revision, "checks": checks,
                     "instance": INSTANCE}
        )

    @app.get("/version")
    def version() -> dict[str, str | None]:
        try:
            revision = read_schema_revision(engine)
        except Exception:  # the DB being down must not break /version
            revision = None
        return {"version": settings.version, "schema_revision": revision, "migrations_head": MIGRATIONS_HEAD,
                "instance": INSTANCE}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/items", status_code=201, dependencies=item_deps)
    def create_item(body: ItemCreate, session: SessionDep) -> dict[str, object]:
        item = Item(**body.model_dump())
        session.add(item)
        session.commit()
        cache.incr("items:writes")
        return item.as_dict()

    @app.get("/items/{item_id}", dependencies=item_deps)
    def get_item(item_id: int, session: SessionDep) -> dict[str, object]:
        cache.incr("items:reads")
        item = session.get(Item, item_id)
        if item is None:
            raise HTTPException(status_code=404, detail="item not found")
        return item.as_dict()

    @app.get("/items", dependencies=item_deps)
    def list_items(session: SessionDep, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict[str, object]]:
        cache.incr("items:reads")
        rows = session.scalars(select(Item).order_by(Item.id.desc()).limit(limit))
        return [row.as_dict() for row in rows]

    return app


def _settings_or_exit() -> Settings:
    """Refuse to start on bad config, and implement the `crash` fault, before
    uvicorn binds its socket, so the container exits non-zero right away."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        log.critical("refusing to start: %s", exc)
        raise SystemExit(2) from None
    if settings.fault is Fault.CRASH:
        log.critical("APP_FAULT=crash: exiting at startup on purpose")
        raise SystemExit(1)
    return settings


app = create_app(_settings_or_exit())
