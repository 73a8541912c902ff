"""The yardstick: the benchmarked endpoints in FastAPI + SQLAlchemy 2 (asyncpg) + pydantic 2.

Used by bench/cpu_per_request.py and bench/mixed_load.py, which serve it with
uvicorn beside the Django server and point both at the same PostgreSQL
database. It does the same work per request as the Django service for these
endpoints:

- the same tables (`users_user`, `users_apitoken`, created by Django's
  migrations) and the same queries in the same order: the bearer token is
  looked up by prefix joined to its user, checked against the SHA-256 digest
  of the whole token, its revocation, expiry and the user's `is_active`, and
  `last_used_at` is written at most once a minute (users/tokens.py); reads run
  in autocommit, a create in one transaction, a PATCH in one UPDATE ...
  RETURNING (users/services.py); a page is the rows and then a count
  (Ninja's LimitOffsetPagination);
- where API_TOKEN_CACHE_SECONDS is set (off by default), a token verified
  less than that long ago trusted again without a lookup
  (users/token_cache.py), expiry checked every time. Not mirrored: the
  Django server's LISTEN session for token changes (users/token_changes.py),
  a thread that wakes twice a second and checks itself every 2 s, no work
  per request, and the check it costs a cached request (well under a µs);
- a pooled connection per request, not tested before use (Django's request
  threads keep theirs and check it without a round trip; see core/db/calls.py);
- the same validation: pydantic models with `extra="forbid"`, the same
  bounds, Django's own `validate_email` and the project's NUL/surrogate check;
- the same JSON bodies: the user fields, `{"items", "count"}` pages, datetimes
  as Django's encoder writes them (milliseconds, `Z`), `{"result": ...}` for
  utilities, the project's error shape;
- utilities from `utilities/functions`: `slugify` inline, `prime_factors` and
  `count_primes` in a process pool (forkserver, UTILITIES_PROCESS_WORKERS
  workers at UTILITIES_PROCESS_NICE, as utilities/runners.py's), each behind
  the same per-utility slots and queue (UTILITIES_CONCURRENCY,
  UTILITIES_QUEUE_SIZE, UTILITIES_QUEUE_WAIT_S), time limit
  (utilities/catalogue.py's) and body-size bound.

What it does not do (bench/README.md lists it): rate limits (Django's
throttles and the failed-token limiter), session auth, CSRF, the production
middleware (security headers, CORS, static files), security logging,
passwords in POST /users, and killing a process worker that overruns (a
ProcessPoolExecutor cannot). Configuration comes from the environment:
BENCH_REFERENCE_DATABASE_URL (a `postgresql+asyncpg://` URL) and the
UTILITIES_* variables above.

    uvicorn bench.reference.app:app --host 127.0.0.1 --port 8792 --workers 1

(Over 300 lines: a whole second application, kept in one file so that its
per-request work reads against the service's in one place.)
"""

# The bench dependency group (fastapi, sqlalchemy, asyncpg) is optional: where
# it is not installed (CI runs `mypy .` without it) the imports below are Any,
# and these two relaxations keep that case clean. With it, all else is strict.
# mypy: allow-untyped-decorators, allow-subclassing-any

import asyncio
import hashlib
import hmac
import multiprocessing
import os
import secrets
import string
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from fastapi import (  # type: ignore[import-not-found, unused-ignore]
    Depends,
    FastAPI,
    Query,
    Request,
    Response,
)
from fastapi.exceptions import (  # type: ignore[import-not-found, unused-ignore]
    RequestValidationError,
)
from fastapi.responses import (  # type: ignore[import-not-found, unused-ignore]
    JSONResponse,
)
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
)
from sqlalchemy import (  # type: ignore[import-not-found, unused-ignore]
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    MetaData,
    Row,
    SmallInteger,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import (  # type: ignore[import-not-found, unused-ignore]
    IntegrityError,
)
from sqlalchemy.ext.asyncio import (  # type: ignore[import-not-found, unused-ignore]
    AsyncConnection,
    AsyncEngine,
    create_async_engine,
)

from core.validators import reject_nul_and_surrogates
from utilities.functions.primes import (
    COUNT_MAX,
    FACTOR_MAX,
    count_primes,
    prime_factors,
)
from utilities.functions.text import SLUG_LENGTH_MAX, SLUG_TEXT_MAX, slugify

AGE_MAX = 150
LAST_USED_RESOLUTION = timedelta(minutes=1)  # as users/tokens.py
UNUSABLE_PASSWORD_CHARS = string.ascii_letters + string.digits

# -- tables (Django's migrations create them) ---------------------------------

metadata = MetaData()
users = Table(
    "users_user",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("password", String(128), nullable=False),
    Column("last_login", DateTime(timezone=True)),
    Column("is_superuser", Boolean, nullable=False),
    Column("email", String(254), nullable=False),
    Column("name", String(150), nullable=False),
    Column("age", SmallInteger),
    Column("is_active", Boolean, nullable=False),
    Column("is_staff", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
tokens = Table(
    "users_apitoken",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users_user.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

# Every column of both, as Django's select_related("user") reads them.
TOKEN_BY_PREFIX = (
    select(*(c.label(f"token_{c.name}") for c in tokens.c), *users.c)
    .join_from(tokens, users, tokens.c.user_id == users.c.id)
    .order_by(tokens.c.created_at.desc())
    .limit(1)
)

# -- schemas -------------------------------------------------------------------


def _valid_email(value: str) -> str:
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValueError("value is not a valid email address") from None
    return value


def _django_datetime(value: datetime) -> str:
    """Write a datetime as Django's JSON encoder does (milliseconds, `Z` for UTC)."""
    text = value.isoformat()
    if value.microsecond:
        text = text[:23] + text[26:]
    if text.endswith("+00:00"):
        text = text.removesuffix("+00:00") + "Z"
    return text


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=150),
    AfterValidator(reject_nul_and_surrogates),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
    AfterValidator(reject_nul_and_surrogates),
    AfterValidator(_valid_email),
]
Age = Annotated[int, Field(ge=0, le=AGE_MAX)]
Timestamp = Annotated[datetime, PlainSerializer(_django_datetime, return_type=str)]
Ordering = Literal[
    "id", "-id", "name", "-name", "email", "-email", "age", "-age",
    "created_at", "-created_at",
]  # fmt: skip


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    age: int | None
    is_active: bool
    is_staff: bool
    created_at: Timestamp
    updated_at: Timestamp


class UserPage(BaseModel):
    items: list[UserOut]
    count: int


class UserCreate(BaseModel):
    """As users/schemas.py, without `password` (the reference stores none)."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    age: Age | None = None
    is_active: bool = True
    is_staff: bool = False


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    name: Name | None = None
    age: Age | None = None
    is_active: bool | None = None
    is_staff: bool | None = None

    @field_validator("email", "name", "is_active", "is_staff")
    @classmethod
    def _not_null(cls, value: str | bool | None) -> str | bool:
        if value is None:
            raise ValueError("may not be null")
        return value


class UserListQuery(BaseModel):
    """Ninja's pagination input and users/schemas.py's UserFilters in one model."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0)
    email: Email | None = None
    search: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=150),
            AfterValidator(reject_nul_and_surrogates),
        ]
        | None
    ) = None
    age_min: Age | None = None
    age_max: Age | None = None
    ordering: Ordering = "id"


Text = Annotated[str, AfterValidator(reject_nul_and_surrogates)]


class SlugifyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[Text, Field(max_length=SLUG_TEXT_MAX)]
    max_length: Annotated[int, Field(ge=1, le=SLUG_LENGTH_MAX)] = 50


class SlugifyResult(BaseModel):
    result: str


class PrimeFactorsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: Annotated[int, Field(ge=2, le=FACTOR_MAX)]


class PrimeFactorsResult(BaseModel):
    result: list[int]


class CountPrimesArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=0, le=COUNT_MAX)]


class CountPrimesResult(BaseModel):
    result: int


# -- errors (the project's one error shape) -------------------------------------


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}


def _unauthenticated() -> ApiError:
    return ApiError(
        401,
        "unauthenticated",
        "Authentication required: send a valid bearer token or log in.",
        {"WWW-Authenticate": 'Bearer realm="api"'},
    )


def _user_not_found() -> ApiError:
    return ApiError(404, "user_not_found", "No user with this id.")


# -- the process pool and the utility gates ---------------------------------------


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class Gate:
    """`concurrency` calls run, `queue_size` wait up to `queue_wait_s`; more: 503."""

    def __init__(self, concurrency: int, queue_size: int, queue_wait_s: float) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self.bound = concurrency + queue_size
        self.queue_wait_s = queue_wait_s
        self.waiting_or_running = 0

    async def run(self, call: Callable[[], Any]) -> Any:
        if self.waiting_or_running >= self.bound:
            raise ApiError(
                503, "utility_busy", "All slots for this function are taken."
            )
        self.waiting_or_running += 1
        try:
            try:
                if self.semaphore.locked():
                    await asyncio.wait_for(self.semaphore.acquire(), self.queue_wait_s)
                else:  # utilities/runners.py: a free slot without wait_for's task
                    await self.semaphore.acquire()
            except TimeoutError:
                raise ApiError(503, "utility_busy", "All slots are taken.") from None
            try:
                return await call()
            finally:
                self.semaphore.release()
        finally:
            self.waiting_or_running -= 1


class State:
    engine: AsyncEngine
    pool: ProcessPoolExecutor | None = None
    gates: dict[str, Gate] = {}


state = State()
MAX_BODY_BYTES = int(_env_float("UTILITIES_MAX_BODY_BYTES", 1_048_576))


def _process_pool() -> ProcessPoolExecutor:
    if state.pool is None:
        state.pool = ProcessPoolExecutor(
            max_workers=int(
                _env_float("UTILITIES_PROCESS_WORKERS", os.cpu_count() or 1)
            ),
            mp_context=multiprocessing.get_context("forkserver"),
            # utilities/runners.py: workers yield the CPU to the event loop.
            initializer=os.nice,
            initargs=(int(_env_float("UTILITIES_PROCESS_NICE", 10)),),
        )
    return state.pool


def _gate(name: str) -> Gate:
    if name not in state.gates:
        state.gates[name] = Gate(
            int(_env_float("UTILITIES_CONCURRENCY", 4)),
            int(_env_float("UTILITIES_QUEUE_SIZE", 8)),
            _env_float("UTILITIES_QUEUE_WAIT_S", 5),
        )
    return state.gates[name]


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    state.engine = create_async_engine(
        os.environ["BENCH_REFERENCE_DATABASE_URL"],
        # Django's pool size unless BENCH_REFERENCE_POOL_SIZE says otherwise.
        pool_size=int(
            os.environ.get("BENCH_REFERENCE_POOL_SIZE")
            or _env_float("DJANGO_DB_POOL_MAX_SIZE", 10)
        ),
        max_overflow=0,
        pool_timeout=_env_float("DJANGO_DB_POOL_TIMEOUT", 5),
        pool_pre_ping=False,  # Django makes no round trip to test a connection
        isolation_level="AUTOCOMMIT",  # Django's autocommit; writes open a transaction
    )
    try:
        yield
    finally:
        await state.engine.dispose()
        if state.pool is not None:
            state.pool.shutdown(cancel_futures=True)


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


@app.exception_handler(ApiError)
async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    body = {"detail": exc.detail, "code": exc.code, "errors": None}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e["msg"]), "type": str(e["type"])}
        for e in exc.errors()
    ]
    body = {"detail": "Invalid request.", "code": "invalid", "errors": errors}
    return JSONResponse(body, status_code=422)


# -- dependencies: a pooled connection, the authenticated user ------------------


async def connection() -> AsyncIterator[AsyncConnection]:
    """One pooled connection for the whole request, like Django's pool."""
    async with state.engine.connect() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(connection)]


async def authenticate(conn: AsyncConnection, raw: str) -> Row[Any] | None:
    """users/tokens.py's token_authenticate, in SQLAlchemy Core."""
    prefix, dot, _ = raw.partition(".")
    if not dot or len(raw) > 128:
        return None
    row: Row[Any] | None = (
        await conn.execute(TOKEN_BY_PREFIX.where(tokens.c.prefix == prefix))
    ).first()
    digest = hashlib.sha256(raw.encode()).hexdigest()
    if row is None or not hmac.compare_digest(row.token_digest, digest):
        return None
    now = datetime.now(UTC)
    usable = (
        row.token_revoked_at is None
        and (row.token_expires_at is None or row.token_expires_at > now)
        and row.is_active
    )
    if not usable:
        return None
    last_used = row.token_last_used_at
    if last_used is None or now - last_used > LAST_USED_RESOLUTION:
        await conn.execute(
            update(tokens).where(tokens.c.id == row.token_id).values(last_used_at=now)
        )
    return row


# users/token_cache.py: a token verified less than this long ago is trusted
# again without a lookup; expiry is checked on every request.
TOKEN_CACHE_SECONDS = _env_float("API_TOKEN_CACHE_SECONDS", 0.0)
_verified: dict[str, tuple[float, Row[Any]]] = {}


def _verified_row(raw: str) -> Row[Any] | None:
    """users/tokens.py's token_verified."""
    if len(raw) > 128:
        return None
    entry = _verified.get(hashlib.sha256(raw.encode()).hexdigest())
    if entry is None or time.monotonic() - entry[0] >= TOKEN_CACHE_SECONDS:
        return None
    row = entry[1]
    expires_at = row.token_expires_at
    return row if expires_at is None or expires_at > datetime.now(UTC) else None


def _bearer(request: Request) -> str:
    """The token of `Authorization: Bearer <token>`, parsed as Ninja's HttpBearer does."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthenticated()
    parts = header.split(" ")
    if parts[0].lower() != "bearer":
        raise _unauthenticated()
    return " ".join(parts[1:])


async def _looked_up(request: Request, conn: Conn) -> Row[Any]:
    """The token looked up on the request's one pooled connection, as Django
    does on the request's thread."""
    row = await authenticate(conn, _bearer(request))
    if row is None:
        raise _unauthenticated()
    return row


async def _cached_or_looked_up(request: Request) -> Row[Any]:
    """With the cache on: no lookup, and no connection, for a token verified
    moments ago; a miss takes a connection of its own for the lookup."""
    raw = _bearer(request)
    row = _verified_row(raw)
    if row is not None:
        return row
    async with state.engine.connect() as conn:
        row = await authenticate(conn, raw)
    if row is None:
        raise _unauthenticated()
    if len(_verified) >= 10_000:  # users/token_cache.py's MAX_ENTRIES
        _verified.pop(next(iter(_verified)))
    _verified[row.token_digest] = (time.monotonic(), row)
    return row


current_user = _cached_or_looked_up if TOKEN_CACHE_SECONDS > 0 else _looked_up


Actor = Annotated[Row[Any], Depends(current_user)]


async def _looked_up_briefly(request: Request) -> Row[Any]:
    """For endpoints that need no connection after auth (the utilities): the
    lookup takes a connection of its own and gives it back at once, as
    Django's request threads do since #16, so a call awaiting its utility
    holds no connection."""
    if TOKEN_CACHE_SECONDS > 0:
        return await _cached_or_looked_up(request)
    async with state.engine.connect() as conn:
        row = await authenticate(conn, _bearer(request))  # autocommit
    if row is None:
        raise _unauthenticated()
    return row


CallerOnly = Annotated[Row[Any], Depends(_looked_up_briefly)]


def _require_staff(actor: Row[Any]) -> None:
    if not actor.is_staff:
        raise ApiError(403, "forbidden", "Only staff may do this.")


def _may_see(actor: Row[Any], user_id: int) -> bool:
    """users/access.py's may_see."""
    return bool(actor.is_staff) or actor.id == user_id


async def _begin_transaction(conn: AsyncConnection) -> None:
    """Leave autocommit for the rest of the request, as transaction.atomic() does.

    The auth query ran in autocommit; the pool restores autocommit when the
    connection goes back.
    """
    await conn.commit()  # ends SQLAlchemy's bookkeeping only: nothing is open
    await conn.execution_options(isolation_level="READ COMMITTED")


def _fields(row: Row[Any]) -> dict[str, Any]:
    fields: dict[str, Any] = row._asdict()
    return fields


async def _get_user(conn: AsyncConnection, actor: Row[Any], user_id: int) -> Row[Any]:
    """users/selectors.py's user_by_id (core/db/statements.py's row_by_pk)."""
    if not _may_see(actor, user_id):
        raise _user_not_found()
    stmt = select(users).where(users.c.id == user_id)
    row: Row[Any] | None = (await conn.execute(stmt)).first()
    if row is None:
        raise _user_not_found()
    return row


# -- endpoints -----------------------------------------------------------------


class HealthOut(BaseModel):
    status: str


@app.get("/api/health")
async def health() -> HealthOut:
    return HealthOut(status="ok")


@app.get("/api/users/{user_id}", response_model=UserOut)
async def get_user(user_id: int, actor: Actor, conn: Conn) -> dict[str, Any]:
    return _fields(await _get_user(conn, actor, user_id))


@app.get("/api/users", response_model=UserPage)
async def list_users(
    query: Annotated[UserListQuery, Query()], actor: Actor, conn: Conn
) -> dict[str, Any]:
    _require_staff(actor)
    where = []
    if query.email is not None:
        where.append(func.upper(users.c.email) == func.upper(query.email))
    if query.search:
        where.append(users.c.name.icontains(query.search))
    if query.age_min is not None:
        where.append(users.c.age >= query.age_min)
    if query.age_max is not None:
        where.append(users.c.age <= query.age_max)
    column = users.c[query.ordering.removeprefix("-")]
    order = column.desc() if query.ordering.startswith("-") else column.asc()
    page = select(users).where(*where).order_by(order.nulls_last(), users.c.id)
    page = page.limit(query.limit)
    if query.offset:
        page = page.offset(query.offset)
    rows = (await conn.execute(page)).all()
    count = (
        await conn.execute(select(func.count()).select_from(users).where(*where))
    ).scalar_one()
    return {"items": [_fields(row) for row in rows], "count": count}


@app.post("/api/users", response_model=UserOut, status_code=201)
async def create_user(
    payload: UserCreate, response: Response, actor: Actor, conn: Conn
) -> dict[str, Any]:
    _require_staff(actor)
    local, _, domain = payload.email.strip().rpartition("@")
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        # Django's set_password(None): "!" and 40 random characters.
        "password": "!"
        + "".join(secrets.choice(UNUSABLE_PASSWORD_CHARS) for _ in range(40)),
        "last_login": None,
        "is_superuser": False,
        "email": f"{local}@{domain.lower()}",  # BaseUserManager.normalize_email
        "name": payload.name,
        "age": payload.age,
        "is_active": payload.is_active,
        "is_staff": payload.is_staff,
        "created_at": now,
        "updated_at": now,
    }
    await _begin_transaction(conn)
    try:
        async with conn.begin():
            stmt = insert(users).values(**values).returning(users.c.id)
            user_id = (await conn.execute(stmt)).scalar_one()
    except IntegrityError:
        raise ApiError(
            409, "email_taken", "A user with this email already exists."
        ) from None
    response.headers["Location"] = f"/api/users/{user_id}"
    return {"id": user_id, **values}


@app.patch("/api/users/{user_id}", response_model=UserOut)
async def patch_user(
    user_id: int, payload: UserPatch, actor: Actor, conn: Conn
) -> dict[str, Any]:
    changes = payload.model_dump(exclude_unset=True)
    if not actor.is_staff and {"is_active", "is_staff"} & changes.keys():
        raise ApiError(422, "invalid", "Only staff may set this field.")
    if isinstance(changes.get("email"), str):
        local, _, domain = changes["email"].strip().rpartition("@")
        changes["email"] = f"{local}@{domain.lower()}"
    if not changes:
        return _fields(await _get_user(conn, actor, user_id))
    if not _may_see(actor, user_id):
        raise _user_not_found()
    # users/services.py: one UPDATE ... RETURNING in autocommit.
    stmt = (
        update(users)
        .where(users.c.id == user_id)
        .values(**changes, updated_at=datetime.now(UTC))
        .returning(*users.c)
    )
    if {"is_active", "is_staff"} & changes.keys():
        _verified.clear()  # users/services.py: forget_verified()
    try:
        row: Row[Any] | None = (await conn.execute(stmt)).first()
    except IntegrityError:
        raise ApiError(
            409, "email_taken", "A user with this email already exists."
        ) from None
    if row is None:
        raise _user_not_found()
    return _fields(row)


async def _check_body(request: Request) -> None:
    if len(await request.body()) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", "The request body is too large.")


@app.post("/api/utilities/slugify")
async def call_slugify(
    request: Request, payload: SlugifyArgs, actor: CallerOnly
) -> SlugifyResult:
    await _check_body(request)

    async def run() -> str:
        return slugify(payload.text, payload.max_length)  # inline: on the loop

    return SlugifyResult(result=await _gate("slugify").run(run))


@app.post("/api/utilities/prime_factors")
async def call_prime_factors(
    request: Request, payload: PrimeFactorsArgs, actor: CallerOnly
) -> PrimeFactorsResult:
    await _check_body(request)

    async def run() -> list[int]:
        future = asyncio.get_running_loop().run_in_executor(
            _process_pool(), prime_factors, payload.n
        )
        try:
            result: list[int] = await asyncio.wait_for(future, 10)  # timeout_s=10
        except TimeoutError:
            raise ApiError(504, "timeout", "The function did not finish.") from None
        return result

    return PrimeFactorsResult(result=await _gate("prime_factors").run(run))


@app.post("/api/utilities/count_primes")
async def call_count_primes(
    request: Request, payload: CountPrimesArgs, actor: CallerOnly
) -> CountPrimesResult:
    await _check_body(request)

    async def run() -> int:
        future = asyncio.get_running_loop().run_in_executor(
            _process_pool(), count_primes, payload.limit
        )
        try:
            result: int = await asyncio.wait_for(future, 600)  # timeout_s=600
        except TimeoutError:
            raise ApiError(504, "timeout", "The function did not finish.") from None
        return result

    return CountPrimesResult(result=await _gate("count_primes").run(run))
