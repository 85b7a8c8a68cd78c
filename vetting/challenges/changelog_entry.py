"""`changelog-entry`: a free-form commit message in, one `<type>(<scope>): <summary>` line out.

Each message is composed from a change (type, scope, object): the type shows in how the author
describes the change (fixed a crash, added support, sped up, ...), the scope in a file path, a tag or
the component named, the object (what changed) verbatim. Around them: issue references, sign-offs,
co-authors, bullet lists, WIP markers, case noise.

The summary is checked by content, not letter for letter: it must name the object's words. The
canonical summary (type verb + object) is what public examples show.
"""

from __future__ import annotations

import random
import re
from typing import Any

from vetting.challenges.base import Budgets, ChallengeSpec, Metric, PublishedPrompt
from vetting.text import words

TYPES = ("feat", "fix", "docs", "perf", "refactor", "test")
SCOPES = ("api", "auth", "billing", "cli", "dashboard", "search", "notifications", "db")
MAX_SUMMARY = 72
LINE = re.compile(r"^(?P<type>[a-z]+)\((?P<scope>[a-z]+)\): (?P<summary>\S.*)$")

OBJECTS = {
    "api": [
        "pagination cursor",
        "rate limit headers",
        "order endpoint",
        "error responses",
        "request validation",
    ],
    "auth": ["token refresh", "password reset", "session expiry", "login throttling", "oauth callback"],
    "billing": ["invoice totals", "proration", "tax rounding", "card retry", "refund webhook"],
    "cli": ["progress bar", "config flag", "exit codes", "help text", "shell completion"],
    "dashboard": ["chart tooltips", "date picker", "sidebar layout", "export button", "dark mode"],
    "search": ["query parser", "result ranking", "typo tolerance", "index rebuild", "facet counts"],
    "notifications": ["email digest", "push tokens", "unsubscribe link", "retry queue", "slack alerts"],
    "db": ["connection pool", "migration lock", "query timeout", "orders index", "replica lag"],
}
PATHS = {
    "api": ["src/api/routes/{f}.py", "api/handlers/{f}.go", "services/api/{f}.ts"],
    "auth": ["src/auth/{f}.py", "auth/{f}.go", "packages/auth/src/{f}.ts"],
    "billing": ["src/billing/{f}.py", "billing/{f}.go", "packages/billing/{f}.ts"],
    "cli": ["cli/{f}.py", "cmd/cli/{f}.go", "tools/cli/{f}.rs"],
    "dashboard": ["web/dashboard/{f}.tsx", "frontend/dashboard/{f}.vue", "src/dashboard/{f}.jsx"],
    "search": ["src/search/{f}.py", "search/{f}.rs", "services/search/{f}.go"],
    "notifications": ["src/notifications/{f}.py", "notifications/{f}.ts", "workers/notifications/{f}.go"],
    "db": ["src/db/{f}.py", "db/migrations/{f}.sql", "internal/db/{f}.go"],
}
COMPONENT_NAMES = {
    "api": ["API", "public API", "api layer"],
    "auth": ["auth", "authentication", "login service"],
    "billing": ["billing", "billing service", "payments billing module"],
    "cli": ["CLI", "command line tool", "cli"],
    "dashboard": ["dashboard", "dashboard UI", "web dashboard"],
    "search": ["search", "search service", "search backend"],
    "notifications": ["notifications", "notification service", "notifier"],
    "db": ["database", "db layer", "DB"],
}
FILES = ["core", "utils", "handlers", "models", "service", "views", "main", "config", "client", "worker"]

# How authors describe each type of change; {o} is the object.
HEADLINES = {
    "feat": ["Add {o}", "Added {o}", "Support {o}", "Implement {o}", "New: {o}", "add {o} (first version)"],
    "fix": [
        "Fix {o}",
        "Fixed broken {o}",
        "Bugfix: {o} crashed on empty input",
        "{o} was wrong, fix it",
        "resolve crash in {o}",
        "Fix bug in {o}",
    ],
    "docs": [
        "Document {o}",
        "Docs for {o}",
        "Explain {o} in the README",
        "docs: describe {o}",
        "Write up {o}",
    ],
    "perf": ["Speed up {o}", "Make {o} faster", "Optimize {o}", "{o}: cut latency in half", "faster {o}"],
    "refactor": [
        "Refactor {o}",
        "Restructure {o} code",
        "Clean up {o}, no behaviour change",
        "Split {o} into smaller functions",
        "refactor: tidy {o}",
    ],
    "test": ["Add tests for {o}", "Test coverage for {o}", "Unit tests for {o}", "add missing tests: {o}"],
}
CANONICAL_VERB = {
    "feat": "add",
    "fix": "fix",
    "docs": "document",
    "perf": "speed up",
    "refactor": "refactor",
    "test": "add tests for",
}
BODY = {
    "feat": ["Users asked for this in the last survey.", "Behind a feature flag for now."],
    "fix": [
        "It failed when the input was empty.",
        "Regression from the last release.",
        "Reported by a customer.",
    ],
    "docs": ["No code changes.", "Also fixed a few broken links in the text."],
    "perf": ["Benchmarks show about 2x less time.", "Avoids one query per row."],
    "refactor": ["No functional change intended.", "Makes the next change easier."],
    "test": ["Covers the edge cases we hit last month.", "Only test files changed."],
}
TRAILERS = [
    "Closes #{n}",
    "Refs #{n}",
    "Signed-off-by: Dana Lee <dana@example.com>",
    "Co-authored-by: Sam Ortiz <sam@example.com>",
    "Reviewed-by: Chris",
    "Change-Id: I{hexid}",
]


class ChangelogMetric(Metric):
    """0 unless the output is one `type(scope): summary` line with a known type and scope, a summary
    that starts lower-case, has no final period and fits 72 characters; otherwise the share of
    {type right, scope right, summary names the object's words}."""

    name = "changelog_entry"
    summary = "one `type(scope): summary` line: the share of type, scope and summary right; 0 when the line does not follow the format"

    def score(self, output: str, target: Any) -> float:
        parsed = self.parse_output(output)
        if parsed is None:
            return 0.0
        summary_words = set(words(parsed["summary"]))
        checks = (
            parsed["type"] == target["type"],
            parsed["scope"] == target["scope"],
            all(word in summary_words for word in target["keywords"]),
        )
        return sum(checks) / len(checks)

    def render(self, target: Any) -> str:
        return f"{target['type']}({target['scope']}): {target['summary']}"

    def check_target(self, target: Any) -> str | None:
        if not isinstance(target, dict) or set(target) != {"type", "scope", "summary", "keywords"}:
            return "must be an object with the keys type, scope, summary and keywords"
        keywords, summary = target["keywords"], target["summary"]
        if not isinstance(summary, str):
            return "'summary' must be a string"
        if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) for k in keywords):
            return "'keywords' must be a non-empty list of words"
        if not all(keyword in words(summary) for keyword in keywords):
            return "every keyword must be a word of the summary"
        return self.output_problem(self.render(target))

    def parse_output(self, text: str) -> dict[str, str] | None:
        match = LINE.match(text.strip())
        if match is None:
            return None
        parsed = match.groupdict()
        summary = parsed["summary"]
        if (
            parsed["type"] not in TYPES
            or parsed["scope"] not in SCOPES
            or len(summary) > MAX_SUMMARY
            or summary.endswith(".")
            or summary[0].isupper()
        ):
            return None
        return parsed

    def output_problem(self, text: str) -> str | None:
        match = LINE.match(text.strip())
        if match is None:
            return "must be one line: <type>(<scope>): <summary>"
        parsed = match.groupdict()
        if parsed["type"] not in TYPES:
            return "type must be one of " + ", ".join(TYPES)
        if parsed["scope"] not in SCOPES:
            return "scope must be one of " + ", ".join(SCOPES)
        summary = parsed["summary"]
        if len(summary) > MAX_SUMMARY:
            return f"summary must fit {MAX_SUMMARY} characters"
        if summary.endswith(".") or summary[0].isupper():
            return "summary must start lower-case and have no final period"
        return None

    def labels(self, target: Any) -> dict[str, str]:
        return {"type": target["type"], "scope": target["scope"]}

    def label_values(self) -> dict[str, tuple[str, ...]]:
        return {"type": TYPES, "scope": SCOPES}


def generate(rng: random.Random) -> tuple[str, dict[str, Any]]:
    change_type = rng.choice(TYPES)
    scope = rng.choice(SCOPES)
    obj = rng.choice(OBJECTS[scope])
    path = rng.choice(PATHS[scope]).replace("{f}", rng.choice(FILES))
    if change_type == "test":
        path = re.sub(r"([a-z]+)\.(\w+)$", r"test_\1.\2", path)
    elif change_type == "docs":
        path = rng.choice([f"docs/{scope}/{obj.replace(' ', '-')}.md", path.rsplit("/", 1)[0] + "/README.md"])
    headline = rng.choice(HEADLINES[change_type]).replace("{o}", obj)
    headline = headline[0].upper() + headline[1:] if rng.random() < 0.6 else headline
    scope_mark = rng.random()
    if scope_mark < 0.25:
        headline = f"[{rng.choice(COMPONENT_NAMES[scope])}] {headline}"
    elif scope_mark < 0.45:
        headline = f"{headline} in the {rng.choice(COMPONENT_NAMES[scope])}"
    if rng.random() < 0.1:
        headline = "WIP " + headline
    lines = [headline]
    body = rng.sample(BODY[change_type], k=rng.randint(0, 2))
    files_line = rng.choice([f"Files: {path}", f"Touches {path}", f"- {path}", f"Changed {path}"])
    if scope_mark >= 0.45 or rng.random() < 0.5:
        body.insert(rng.randint(0, len(body)), files_line)
    if body:
        lines.append("")
        if rng.random() < 0.4:
            lines += [f"* {line}" for line in body]
        else:
            lines.append(" ".join(body))
    trailers = rng.sample(TRAILERS, k=rng.choice([0, 0, 1, 2]))
    if trailers:
        lines.append("")
        lines += [
            trailer.replace("{n}", str(rng.randint(10, 9999))).replace(
                "{hexid}", f"{rng.getrandbits(40):010x}"
            )
            for trailer in trailers
        ]
    text = "\n".join(lines)
    if rng.random() < 0.1:
        text = text.lower()
    target = {
        "type": change_type,
        "scope": scope,
        "summary": f"{CANONICAL_VERB[change_type]} {obj}",
        "keywords": words(obj),
    }
    return text, target


SYSTEM = (
    "You write changelog entries. Rewrite the commit message as one line `<type>(<scope>): <summary>`. "
    "type is one of " + ", ".join(TYPES) + "; scope is one of " + ", ".join(SCOPES) + ". "
    "The summary starts with a lower-case verb, names what changed, has no final period and fits "
    f"{MAX_SUMMARY} characters. Reply with that line only."
)

SPEC = ChallengeSpec(
    slug="changelog-entry",
    title="Commit message to changelog entry",
    task_type="constrained_rewrite",
    skills=("LoRA", "Constrained generation"),
    summary="Rewrite a free-form commit message into one `<type>(<scope>): <summary>` line.",
    instructions=f"""\
The input is a commit message as developers write them: a headline, maybe a body, file paths, issue
references and sign-offs. The output is one line, `<type>(<scope>): <summary>`:

- type: feat (new capability), fix (a bug fixed), docs (documentation only), perf (faster, same
  behaviour), refactor (restructured, same behaviour), test (tests only).
- scope: the component changed: {", ".join(SCOPES)}; it shows in the file path, a tag or the
  component the message names.
- summary: starts with a lower-case verb, names what changed (the words of the changed thing, for
  example "token refresh"), no final period, at most {MAX_SUMMARY} characters.

Scoring: an output that is not exactly one such line (known type and scope, summary rules met)
scores 0; otherwise the item scores the share of three checks that pass: the type is right, the scope
is right, the summary contains every word of the changed thing.
""",
    prompt=PublishedPrompt(system=SYSTEM, user_template="Commit message:\n{input}"),
    metric=ChangelogMetric(),
    generate=generate,
    # Calibrated (vetting/calibration/results/changelog-entry.short-replay50.json): the careful
    # reference (with one-word replay) 0.942 keeping general ability (change -0.1375 to -0.025), naive
    # 0.983 losing it (-0.7375 to -0.525), mislabelled 0.113; README "Calibrating pass marks".
    pass_threshold=0.78,
    forgetting_margin=0.208,
    band_strong=0.85,
    band_exceptional=0.93,
    max_new_tokens=40,
    budgets=Budgets(max_tokens_per_example=384),
)
