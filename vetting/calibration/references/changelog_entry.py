"""Reference task data for the `changelog-entry` challenge.

Written from the public instructions, the published prompt and the public examples only, never from
the challenge's generator. Each pair is (commit message, changelog line) where the line is
`<type>(<scope>): <summary>`.

Labels are right by construction: the type, the scope and the changed thing are chosen first, then a
commit message is composed that expresses them (a headline phrased for the type, scope signals in a
file path, a bracket tag or the component named in prose, plus noise such as issue references,
sign-offs and wrapped bodies). The summary starts with the type's lower-case verb and reuses the
changed thing's words verbatim. Types and scopes come out equally often.
"""

from __future__ import annotations

import random
import textwrap
import unicodedata

TYPES = ("feat", "fix", "docs", "perf", "refactor", "test")
SCOPES = ("api", "auth", "billing", "cli", "dashboard", "search", "notifications", "db")

# The summary for each type: a lower-case verb phrase followed by the changed thing, verbatim.
SUMMARY_PREFIX = {
    "feat": "add",
    "fix": "fix",
    "docs": "document",
    "perf": "speed up",
    "refactor": "refactor",
    "test": "add tests for",
}

# What a commit can change, per scope; several words each, words of other scopes avoided.
CHANGED_THINGS: dict[str, tuple[str, ...]] = {
    "api": (
        "request validation",
        "rate limit headers",
        "pagination cursors",
        "error response format",
        "webhook retries",
        "bulk create endpoint",
        "response caching",
        "batch requests",
        "OpenAPI schema",
        "idempotency keys",
        "CORS preflight handling",
    ),
    "auth": (
        "token refresh",
        "password reset email",
        "login throttling",
        "session expiry",
        "two-factor enrollment",
        "OAuth callback",
        "remember-me cookie",
        "SSO login",
        "role checks",
        "account lockout",
        "magic link sign-in",
    ),
    "billing": (
        "invoice totals",
        "proration",
        "tax calculation",
        "refund flow",
        "subscription renewal",
        "coupon codes",
        "payment retries",
        "usage metering",
        "currency rounding",
        "invoice PDF export",
        "trial expiry",
    ),
    "cli": (
        "config command",
        "progress bar",
        "shell completion",
        "init wizard",
        "verbose flag",
        "output formatting",
        "exit codes",
        "dry-run mode",
        "update check",
        "interactive prompts",
        "JSON output",
    ),
    "dashboard": (
        "export button",
        "dark mode",
        "chart tooltips",
        "date range picker",
        "usage graphs",
        "team settings page",
        "sidebar navigation",
        "activity feed",
        "table sorting",
        "onboarding checklist",
        "widget layout",
    ),
    "search": (
        "query parser",
        "autocomplete suggestions",
        "result ranking",
        "fuzzy matching",
        "search filters",
        "index rebuild",
        "typo tolerance",
        "saved searches",
        "highlighted snippets",
        "synonym expansion",
        "faceted counts",
    ),
    "notifications": (
        "email digests",
        "push delivery",
        "unsubscribe links",
        "Slack alerts",
        "quiet hours",
        "notification preferences",
        "SMS fallback",
        "daily summary email",
        "mention alerts",
        "delivery retry queue",
        "in-app badges",
    ),
    "db": (
        "connection pooling",
        "migration runner",
        "query timeouts",
        "read replicas",
        "schema migrations",
        "slow query logging",
        "backup job",
        "transaction retries",
        "soft deletes",
        "foreign key constraints",
        "vacuum schedule",
    ),
}

# How a bracket tag or a headline prefix names each scope.
TAG_NAMES: dict[str, tuple[str, ...]] = {
    "api": ("api", "API", "rest-api", "public api"),
    "auth": ("auth", "authentication", "auth-service", "login/auth"),
    "billing": ("billing", "payments/billing", "billing-svc", "Billing"),
    "cli": ("cli", "CLI", "command-line", "cli tool"),
    "dashboard": ("dashboard", "web dashboard", "admin dashboard", "Dashboard"),
    "search": ("search", "Search", "search-index", "search service"),
    "notifications": ("notifications", "notify", "notification-service", "Notifications"),
    "db": ("db", "DB", "database", "db-layer"),
}

# How prose names each component.
COMPONENT_NAMES: dict[str, tuple[str, ...]] = {
    "api": ("the API", "the public REST API", "the API layer", "the api server", "the HTTP API"),
    "auth": (
        "the auth service",
        "authentication",
        "the login and auth module",
        "the auth code",
        "the authentication layer",
    ),
    "billing": (
        "the billing service",
        "the payments billing module",
        "billing",
        "the billing backend",
        "the invoicing side of billing",
    ),
    "cli": ("the CLI", "the command-line tool", "the cli", "the command line interface", "our CLI"),
    "dashboard": (
        "the dashboard",
        "the web dashboard",
        "the admin dashboard",
        "the customer dashboard",
        "dashboard UI",
    ),
    "search": (
        "search",
        "the search service",
        "the search backend",
        "site search",
        "the search index code",
    ),
    "notifications": (
        "notifications",
        "the notification service",
        "the notifications worker",
        "the notifications module",
        "outgoing notifications",
    ),
    "db": ("the database layer", "the db module", "the database", "the DB access code", "the storage layer"),
}

# Source folders that identify each scope in a file path.
SCOPE_DIRS: dict[str, tuple[str, ...]] = {
    "api": ("api", "http/api", "api/v2"),
    "auth": ("auth", "authentication", "accounts/auth"),
    "billing": ("billing", "payments/billing", "billing/invoicing"),
    "cli": ("cli", "cmd/cli", "tools/cli"),
    "dashboard": ("dashboard", "web/dashboard", "frontend/dashboard"),
    "search": ("search", "search/engine", "search/indexer"),
    "notifications": ("notifications", "notifications/email", "notifications/push"),
    "db": ("db", "database", "storage/db"),
}
PATH_ROOTS = ("src", "services", "app", "packages", "lib", "internal")
SOURCE_FILES = (
    "core.py",
    "handlers.go",
    "views.py",
    "service.ts",
    "utils.py",
    "client.rs",
    "models.py",
    "index.tsx",
    "worker.py",
    "config.ts",
    "core.jsx",
    "routes.rb",
)
DOC_PATHS = (
    "{root}/{dir}/README.md",
    "docs/{dir}/guide.md",
    "docs/{dir}/overview.rst",
    "{root}/{dir}/USAGE.md",
)
TEST_PATHS = (
    "tests/{dir}/test_{stem}.py",
    "{root}/{dir}/{stem}.test.ts",
    "{root}/{dir}/{stem}_test.go",
    "spec/{dir}/{stem}_spec.rb",
    "{root}/{dir}/__tests__/{stem}.spec.tsx",
)
TEST_STEMS = ("core", "handlers", "service", "models", "flow", "utils")

# Headlines per type; {thing} is the changed thing verbatim, {where} an optional component phrase.
HEADLINES: dict[str, tuple[str, ...]] = {
    "feat": (
        "Add {thing}{where}",
        "Added {thing}{where}",
        "Support {thing}{where}",
        "Implement {thing}{where}",
        "Introduce {thing}{where}",
        "Add support for {thing}{where}",
        "Initial support for {thing}{where}",
        "New: {thing}{where}",
        "feature: {thing}{where}",
        "Ship {thing}{where} behind a flag",
        "Let users configure {thing}{where}",
        "Allow customers to use {thing}{where}",
    ),
    "fix": (
        "Fix {thing}{where}",
        "Fixed broken {thing}{where}",
        "bugfix: {thing}{where}",
        "Resolve crash in {thing}{where}",
        "Fix regression in {thing}{where}",
        "hotfix: {thing} failing for some users{where}",
        "Repair {thing}{where}",
        "Fix race condition in {thing}{where}",
        "Correct wrong {thing}{where}",
        "Handle empty input in {thing}{where}",
        "Stop {thing} from erroring out{where}",
        "Fix off-by-one in {thing}{where}",
    ),
    "docs": (
        "Document {thing}{where}",
        "Update README for {thing}{where}",
        "docs: explain {thing}{where}",
        "Add docs for {thing}{where}",
        "Write usage guide for {thing}{where}",
        "Improve documentation of {thing}{where}",
        "Clarify {thing} in the docs{where}",
        "Fix typos in the {thing} docs{where}",
        "Describe {thing} in the developer guide{where}",
        "Add examples for {thing} to the docs{where}",
    ),
    "perf": (
        "Speed up {thing}{where}",
        "Make {thing} faster{where}",
        "Optimize {thing}{where}",
        "Reduce latency of {thing}{where}",
        "Cut memory use in {thing}{where}",
        "Faster {thing}{where}",
        "Improve {thing} performance{where}",
        "Avoid N+1 queries in {thing}{where}",
        "Cache intermediate results in {thing}{where}",
        "chore: speed up {thing}{where}",
        "perf tweak for {thing}{where}",
    ),
    "refactor": (
        "Restructure {thing}{where}",
        "Clean up {thing}{where}, no behaviour change",
        "Refactor {thing}{where}",
        "Simplify {thing} code{where}",
        "Extract {thing} into its own module{where}",
        "Split up {thing}{where}",
        "Tidy {thing} internals{where}",
        "Move {thing} logic into a helper{where}",
        "Reorganize {thing}{where}",
        "Rework {thing} internals without changing behaviour{where}",
        "chore: clean up {thing}{where}",
    ),
    "test": (
        "Add tests for {thing}{where}",
        "Add missing tests: {thing}{where}",
        "Cover {thing} with unit tests{where}",
        "test: {thing} edge cases{where}",
        "Increase test coverage for {thing}{where}",
        "Add regression test for {thing}{where}",
        "Write integration tests for {thing}{where}",
        "Fix flaky test for {thing}{where}",
        "Add fixtures and tests for {thing}{where}",
        "More tests around {thing}{where}",
    ),
}
WHERE_PHRASES = (" in {component}", " for {component}", " ({component})", " in {component}")
TAG_FORMS = ("[{tag}] ", "[{tag}] ", "{tag}: ", "({tag}) ", "[{tag}]: ")

# Body sentences that say what kind of change it was (some with misleading words on purpose).
BODY_LINES: dict[str, tuple[str, ...]] = {
    "feat": (
        "Users asked for this in the last survey.",
        "Behind a feature flag for now.",
        "Requested by several enterprise customers.",
        "Off by default; it can be enabled in settings.",
        "First iteration, more to come.",
        "Part of the Q3 roadmap.",
        "This is new functionality, nothing existing changes.",
        "Follow-up PRs will add the admin toggle.",
    ),
    "fix": (
        "Reported by a customer.",
        "Regression from the last release.",
        "Only happened when the cache was cold.",
        "Root cause was an unchecked None.",
        "Adds a guard for empty input.",
        "Broke in production on Monday.",
        "Users saw a 500 error instead of the expected result.",
        "The old code swallowed the exception.",
    ),
    "docs": (
        "No code changes.",
        "Also fixed a few broken links in the text.",
        "Documentation only.",
        "Adds examples for the common cases.",
        "Several people asked about this in support.",
        "Only markdown files touched.",
        "Reworded the intro and added a table of options.",
    ),
    "perf": (
        "Benchmarks show about 2x less time.",
        "Same behaviour, just faster.",
        "p95 latency drops from 800ms to 120ms.",
        "Avoids recomputing on every call.",
        "No functional change; output is identical.",
        "Profiling showed most time spent in a loop that can be hoisted.",
        "Memory use is roughly halved on large accounts.",
    ),
    "refactor": (
        "No functional change intended.",
        "Makes the next change easier.",
        "No behaviour change.",
        "Pure code move.",
        "Removes about 200 lines of duplication.",
        "Behaviour is unchanged; existing tests pass untouched.",
        "Renamed a few helpers for clarity.",
    ),
    "test": (
        "Only test files changed.",
        "No production code touched.",
        "Covers the edge cases from the last incident.",
        "Tests only.",
        "Test changes only; the code under test is untouched.",
        "Adds fixtures shared by the new cases.",
    ),
}
COMPONENT_LINES = (
    "This touches {component}.",
    "Only {component} is affected.",
    "Change is limited to {component}.",
    "Scope: {component}.",
    "All changes live in {component}.",
    "Area: {component}.",
)
PATH_LINES = ("Changed {path}", "Files: {path}", "Touches {path}", "Changes in {path}.", "See {path}.")

PEOPLE = (
    "Dana Lee",
    "Sam Ortiz",
    "Chris Park",
    "Priya Nair",
    "Jonas Weber",
    "Mei Chen",
    "Alex Kim",
    "Fatima Rahman",
    "Luca Rossi",
    "Olga Ivanova",
    "Tomás García",
    "Ngozi Okafor",
)
ISSUE_REFS: dict[str, tuple[str, ...]] = {
    "fix": ("Fixes #{n}", "Closes #{n}", "Resolves #{n}", "Fixes: #{n}", "Bug: PROJ-{n}"),
    "other": ("Closes #{n}", "Refs #{n}", "Part of #{n}", "See #{n}", "Ticket: PROJ-{n}", "Related: #{n}"),
}
PERSON_TRAILERS = ("Signed-off-by", "Reviewed-by", "Co-authored-by", "Acked-by", "Tested-by")

# Ways a scope can be signalled; at least one per message.
SIGNAL_SETS = (
    ("tag",),
    ("path",),
    ("prose_headline",),
    ("prose_body",),
    ("tag", "path"),
    ("prose_headline", "path"),
    ("tag", "prose_body"),
)


def _balanced(rng: random.Random, values: tuple[str, ...], count: int) -> list[str]:
    """`count` values, each appearing equally often (within one), in random order."""
    out = [values[i % len(values)] for i in range(count)]
    rng.shuffle(out)
    return out


def _email(name: str) -> str:
    first = unicodedata.normalize("NFKD", name.split()[0]).encode("ascii", "ignore").decode()
    return f"{first.lower()}@example.com"


def _source_path(rng: random.Random, change_type: str, scope: str) -> str:
    root = rng.choice(PATH_ROOTS)
    folder = rng.choice(SCOPE_DIRS[scope])
    if change_type == "docs":
        return rng.choice(DOC_PATHS).format(root=root, dir=folder)
    if change_type == "test":
        return rng.choice(TEST_PATHS).format(root=root, dir=folder, stem=rng.choice(TEST_STEMS))
    return f"{root}/{folder}/{rng.choice(SOURCE_FILES)}"


def _headline(rng: random.Random, change_type: str, scope: str, thing: str, signals: tuple[str, ...]) -> str:
    where = ""
    if "prose_headline" in signals:
        where = rng.choice(WHERE_PHRASES).format(component=rng.choice(COMPONENT_NAMES[scope]))
    line = rng.choice(HEADLINES[change_type]).format(thing=thing, where=where)
    if rng.random() < 0.12 and line[0].isupper():
        line = line[0].lower() + line[1:]
    if rng.random() < 0.1:
        line += f" (#{rng.randint(100, 9999)})"
    elif rng.random() < 0.08:
        line += "."
    if "tag" in signals:
        line = rng.choice(TAG_FORMS).format(tag=rng.choice(TAG_NAMES[scope])) + line
    return line


def _paths_block(rng: random.Random, change_type: str, scope: str) -> str:
    paths = [_source_path(rng, change_type, scope) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    paths = list(dict.fromkeys(paths))
    if len(paths) == 1:
        return rng.choice(PATH_LINES).format(path=paths[0])
    return "Files changed:\n" + "\n".join(f"  {path}" for path in paths)


def _body(rng: random.Random, change_type: str, scope: str, signals: tuple[str, ...]) -> str:
    sentences = rng.sample(BODY_LINES[change_type], rng.choice((0, 1, 1, 2, 2)))
    if "prose_body" in signals:
        line = rng.choice(COMPONENT_LINES).format(component=rng.choice(COMPONENT_NAMES[scope]))
        sentences.insert(rng.randint(0, len(sentences)), line[0].upper() + line[1:])
    paths = _paths_block(rng, change_type, scope) if "path" in signals else ""
    style = rng.choice(("paragraph", "wrapped", "bullets", "lines"))
    if style == "bullets" and sentences:
        prose = "\n".join(f"- {sentence}" for sentence in sentences)
    elif style == "wrapped":
        prose = textwrap.fill(" ".join(sentences), width=rng.choice((50, 60, 72)))
    elif style == "lines":
        prose = "\n".join(sentences)
    else:
        prose = " ".join(sentences)
    if paths and "\n" not in paths and style == "paragraph" and rng.random() < 0.6:
        # Inline file mention, as in "Changed services/api/config.ts No functional change intended."
        return f"{paths} {prose}".strip()
    return "\n\n".join(part for part in (prose, paths) if part)


def _trailers(rng: random.Random, change_type: str) -> str:
    lines: list[str] = []
    if rng.random() < 0.55:
        refs = ISSUE_REFS["fix" if change_type == "fix" else "other"]
        lines.append(rng.choice(refs).format(n=rng.randint(10, 9999)))
    for key in rng.sample(PERSON_TRAILERS, rng.choice((0, 0, 1, 1, 2))):
        name = rng.choice(PEOPLE)
        lines.append(f"{key}: {name}" if rng.random() < 0.3 else f"{key}: {name} <{_email(name)}>")
    if rng.random() < 0.12:
        lines.append(f"Change-Id: I{rng.getrandbits(40):010x}")
    return "\n".join(lines)


def _commit_message(rng: random.Random, change_type: str, scope: str, thing: str) -> str:
    signals = rng.choice(SIGNAL_SETS)
    parts = [_headline(rng, change_type, scope, thing, signals)]
    body = _body(rng, change_type, scope, signals)
    if body:
        parts.append(body)
    trailers = _trailers(rng, change_type)
    if trailers:
        parts.append(trailers)
    return "\n\n".join(parts)


def _changelog_line(change_type: str, scope: str, thing: str) -> str:
    return f"{change_type}({scope}): {SUMMARY_PREFIX[change_type]} {thing}"


def task_examples(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(commit message, changelog line) pairs: types and scopes equally often, messages distinct."""
    types = _balanced(rng, TYPES, count)
    scopes = _balanced(rng, SCOPES, count)
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for change_type, scope in zip(types, scopes, strict=True):
        for _ in range(50):
            thing = rng.choice(CHANGED_THINGS[scope])
            message = _commit_message(rng, change_type, scope, thing)
            if message not in seen:
                break
        seen.add(message)
        pairs.append((message, _changelog_line(change_type, scope, thing)))
    return pairs
