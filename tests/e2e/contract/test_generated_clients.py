"""The OpenAPI document as client generators see it, served by a live server.

REST clients are the service's first users, and most of them generate a
client from /api/openapi.json. The production server (tests/live_server.py,
on a throwaway SQLite file, no job worker) serves the document, and:

- Redocly CLI lints it with the `recommended` rules: no error (the warnings
  are printed); openapi-spec-validator accepts it;
- openapi-python-client generates a Python client with --fail-on-warning,
  and the tests drive the same server through it: users, utilities, jobs;
- openapi-typescript generates TypeScript types, and `tsc --strict` checks
  client_usage.ts, a small client written against them.

Generated code goes to pytest's temporary folders and is never committed.
The Node tools are the versions package-lock.json pins:

    npm ci && uv run pytest tests/e2e/contract/test_generated_clients.py -s

(Over 300 lines: one live server and three generators, whose clients the
tests drive; read together.)
"""

import importlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.live_server import ROOT, Server, live_server
from tests.requirements import require

NODE_BIN = ROOT / "node_modules" / ".bin"
CLIENT_USAGE = Path(__file__).with_name("client_usage.ts")
PACKAGE = "ninja_service_client"  # the generated Python client's import name
TIMEOUT_S = 180


def node_tool(name: str) -> Path:
    """Return the path of a tool `npm ci` installs; skip without it (fail on CI)."""
    require("node")
    return NODE_BIN / name


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a tool and capture its output: the assertions quote it."""
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S
    )


def output(process: subprocess.CompletedProcess[str]) -> str:
    """Return a tool's command line and everything it printed."""
    return f"$ {' '.join(map(str, process.args))}\n{process.stdout}{process.stderr}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The production server on a fresh SQLite database, with a staff token."""
    tmp = tmp_path_factory.mktemp("server")
    # The production default, API_DOCS=staff: the document is fetched with a
    # staff token, as a pipeline generating its client would.
    env = {"DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}"}
    with live_server(env, tmp) as running:
        yield running


@pytest.fixture(scope="module")
def document(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The live /api/openapi.json, saved in a folder of its own."""
    response = server.get("/api/openapi.json")
    assert response.status_code == 200, response.text[:2000]
    path = tmp_path_factory.mktemp("document") / "openapi.json"
    path.write_bytes(response.content)
    return path


def test_redocly_recommended_rules_find_no_error(document: Path) -> None:
    """Redocly's `recommended` ruleset finds no error; warnings are printed."""
    redocly = node_tool("redocly")
    # Run beside the document, where no redocly.yaml of the repository can
    # change the ruleset.
    lint = run(
        [
            str(redocly), "lint", document.name, "--extends=recommended",
            "--format=json", "--max-problems=1000",
        ],
        cwd=document.parent,
    )  # fmt: skip
    try:
        report: dict[str, Any] = json.loads(lint.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"redocly lint gave no JSON report:\n{output(lint)}")
    problems = [
        f"{problem['severity']:5} {problem['ruleId']}: {problem['message']}"
        + "".join(f" at {place['pointer']}" for place in problem["location"][:1])
        for problem in report["problems"]
    ]
    totals = report["totals"]
    print(  # noqa: T201  (the warnings are for people, with -s)
        f"Redocly recommended: {totals['errors']} errors, "
        f"{totals['warnings']} warnings",
        *problems,
        sep="\n  ",
    )
    assert totals["errors"] == 0, "\n".join(
        p for p in problems if p.startswith("error")
    )


def test_openapi_spec_validator_accepts_the_document(document: Path) -> None:
    """openapi-spec-validator finds the document valid OpenAPI."""
    check = run(
        [
            sys.executable, "-m", "openapi_spec_validator",
            "--validation-errors=all", str(document),
        ],
        cwd=document.parent,
    )  # fmt: skip

    assert check.returncode == 0, output(check)


@pytest.fixture(scope="module")
def python_client(
    document: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Generate the Python client from the document and make it importable."""
    folder = tmp_path_factory.mktemp("python-client")
    config = folder / "openapi-python-client.json"
    # No post hooks: the generated code is not kept, so ruff need not run.
    config.write_text(json.dumps({"package_name_override": PACKAGE, "post_hooks": []}))
    generate = run(
        [
            sys.executable, "-m", "openapi_python_client", "generate",
            "--path", str(document), "--output-path", str(folder / PACKAGE),
            "--config", str(config), "--meta", "none", "--fail-on-warning",
        ],
        cwd=folder,
    )  # fmt: skip
    if generate.returncode != 0:
        pytest.fail(f"openapi-python-client failed or warned:\n{output(generate)}")
    sys.path.insert(0, str(folder))
    try:
        yield folder / PACKAGE
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def operation(python_client: Path, tag: str, name: str) -> ModuleType:
    """Return the generated module of an operation: its snake_cased
    operationId, in the folder of its tag."""
    if not (python_client / "api" / tag / f"{name}.py").exists():
        found = sorted(p.stem for p in (python_client / "api" / tag).glob("[!_]*.py"))
        pytest.fail(f"the client has no api/{tag}/{name}.py; it has {found}")
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")


@pytest.fixture
def client(python_client: Path, server: Server) -> Iterator[Any]:
    """The generated AuthenticatedClient, as staff; an undocumented status raises."""
    generated = importlib.import_module(f"{PACKAGE}.client")
    with generated.AuthenticatedClient(
        base_url=server.url, token=server.token, raise_on_unexpected_status=True
    ) as authenticated:
        yield authenticated


@pytest.fixture
def models(python_client: Path) -> ModuleType:
    """The generated client's models: one class per schema of the document."""
    return importlib.import_module(f"{PACKAGE}.models")


def test_python_client_generates_without_warning(python_client: Path) -> None:
    """openapi-python-client --fail-on-warning builds every operation."""
    assert (python_client / "client.py").exists()


def test_python_client_creates_reads_patches_and_deletes_a_user(
    python_client: Path, client: Any, models: ModuleType
) -> None:
    """A PATCH of `name` keeps `age`; an explicit null clears it; delete, 404."""
    create_user = operation(python_client, "users", "create_user")
    get_user = operation(python_client, "users", "get_user")
    patch_user = operation(python_client, "users", "patch_user")
    delete_user = operation(python_client, "users", "delete_user")
    email = f"ann-{uuid.uuid4().hex}@example.com"

    created = create_user.sync_detailed(
        client=client, body=models.UserCreate(email=email, name="Ann", age=30)
    )
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, models.UserOut)
    user_id = created.parsed.id

    read = get_user.sync_detailed(user_id, client=client)
    assert read.status_code == 200, read.content
    assert isinstance(read.parsed, models.UserOut)
    assert (read.parsed.email, read.parsed.name, read.parsed.age) == (email, "Ann", 30)

    rename = models.UserPatch(name="Ann Lee")
    assert rename.to_dict() == {"name": "Ann Lee"}  # what goes over the wire
    renamed = patch_user.sync_detailed(user_id, client=client, body=rename)
    assert renamed.status_code == 200, renamed.content
    assert (renamed.parsed.name, renamed.parsed.age) == ("Ann Lee", 30)

    clear_age = models.UserPatch(age=None)
    assert clear_age.to_dict() == {"age": None}
    cleared = patch_user.sync_detailed(user_id, client=client, body=clear_age)
    assert cleared.status_code == 200, cleared.content
    assert isinstance(cleared.parsed, models.UserOut)
    assert cleared.parsed.age is None
    assert cleared.parsed.name == "Ann Lee"

    deleted = delete_user.sync_detailed(user_id, client=client)
    assert deleted.status_code == 204, deleted.content

    gone = get_user.sync_detailed(user_id, client=client)
    assert gone.status_code == 404, gone.content
    assert not isinstance(gone.parsed, models.UserOut)
    assert gone.parsed.code == "user_not_found"


def test_python_client_returns_typed_utility_results(
    python_client: Path, client: Any, models: ModuleType
) -> None:
    """slugify answers a str result, prime_factors a list of ints."""
    call_slugify = operation(python_client, "utilities", "call_slugify")
    call_prime_factors = operation(python_client, "utilities", "call_prime_factors")

    slug = call_slugify.sync(
        client=client, body=models.SlugifyArgs(text="Héllo, Wörld!")
    )
    factors = call_prime_factors.sync(
        client=client, body=models.PrimeFactorsArgs(n=360)
    )

    assert isinstance(slug, models.SlugifyResult)
    assert slug.result == "hello-world"
    assert isinstance(factors, models.PrimeFactorsResult)
    assert factors.result == [2, 2, 2, 3, 3, 5]
    assert all(type(factor) is int for factor in factors.result)


def test_python_client_submits_reads_and_cancels_a_job(
    python_client: Path, client: Any, models: ModuleType
) -> None:
    """A count_primes job is accepted (202), readable, and cancelled while queued.

    No job worker runs beside this server, so the job stays queued until the
    cancel, which therefore answers 200 rather than 202.
    """
    submit = operation(python_client, "utilities", "submit_count_primes_job")
    get_job = operation(python_client, "jobs", "get_job")
    cancel_job = operation(python_client, "jobs", "cancel_job")

    submitted = submit.sync_detailed(
        client=client, body=models.CountPrimesArgs(limit=1_000_000)
    )
    assert submitted.status_code == 202, submitted.content
    job = submitted.parsed  # the job schema is named by the document, not here
    assert isinstance(job.id, uuid.UUID)
    assert (job.utility, job.status, job.result) == ("count_primes", "queued", None)
    assert submitted.headers["Location"].endswith(f"/api/jobs/{job.id}")

    status = get_job.sync_detailed(job.id, client=client)
    assert status.status_code == 200, status.content
    assert isinstance(status.parsed, type(job))
    assert (status.parsed.id, status.parsed.status) == (job.id, "queued")

    cancelled = cancel_job.sync_detailed(job.id, client=client)
    assert cancelled.status_code == 200, cancelled.content
    assert isinstance(cancelled.parsed, type(job))
    assert (cancelled.parsed.id, cancelled.parsed.status) == (job.id, "cancelled")
    assert cancelled.parsed.result is None


def test_typescript_types_pass_strict_tsc(document: Path, tmp_path: Path) -> None:
    """client_usage.ts type-checks under `tsc --strict` with the generated types."""
    openapi_typescript = node_tool("openapi-typescript")
    tsc = node_tool("tsc")
    generate = run(
        [str(openapi_typescript), str(document), "--output", "api.d.ts"],
        cwd=tmp_path,
    )
    assert generate.returncode == 0, output(generate)
    shutil.copy(CLIENT_USAGE, tmp_path)

    # No --skipLibCheck: api.d.ts itself is under test.
    check = run(
        [
            str(tsc), "--noEmit", "--strict", "--target", "es2022",
            "--lib", "es2022,dom", "--module", "esnext",
            "--moduleResolution", "bundler",
            CLIENT_USAGE.name,
        ],
        cwd=tmp_path,
    )  # fmt: skip

    assert check.returncode == 0, output(check)
