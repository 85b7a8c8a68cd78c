"""API throughput under concurrent clients: the heaviest endpoints against a trivial view of the same app.

    python -m bench.api_load [--seconds 8] [--concurrency 8] [--workers 2]

Seeds a separate benchmark database (the configured engine: `<name>_bench` on PostgreSQL, var/bench.sqlite3
on SQLite) with 1,000 requests and 200 engineers, serves the app with gunicorn, and drives each endpoint
with keep-alive clients for a fixed time, in one-second turns that rotate between the paths. The baseline
is /api/v1/ping/, which goes through the same middleware, authentication and rendering but does no work
of its own. Prints one JSON line per endpoint;
the last line is the headline: the slowest endpoint's requests per second against the baseline's.
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
N_REQUESTS = 1000
N_ENGINEERS = 200
TURN_SECONDS = 1.0
SKILLS = [
    "LoRA",
    "QLoRA",
    "RAG",
    "Evaluation",
    "JSON extraction",
    "Classification",
    "Distillation",
    "Deployment",
    "Prompt engineering",
    "Data curation",
    "DPO",
    "Quantization",
]


def bench_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        parsed = urlparse(url)
        name = parsed.path.lstrip("/") or "postgres"
        return parsed._replace(path=f"/{name}_bench").geturl()
    return f"sqlite:///{BASE_DIR / 'var' / 'bench.sqlite3'}"


def prepare_database(url: str) -> None:
    if url.startswith("sqlite"):
        Path(urlparse(url).path).unlink(missing_ok=True)
        return
    import psycopg

    parsed = urlparse(url)
    admin = parsed._replace(path="/postgres", query="").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        name = parsed.path.lstrip("/")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def seed() -> dict:
    """Create the data set with bulk inserts; returns ids and the client's token."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from marketplace.models import EngineerProfile, HiringRequest, Skill, User
    from marketplace.services import engagements as engagement_services
    from marketplace.services import requests as request_services
    from marketplace.services.users import api_token_issue
    from vetting.models import Badge

    call_command("migrate", verbosity=0)
    rng = random.Random(7)
    skills = [Skill.objects.create(name=name, slug=name.lower().replace(" ", "-")) for name in SKILLS]
    engineers = User.objects.bulk_create(
        User(username=f"eng{i}", email=f"eng{i}@example.com", role=User.Role.ENGINEER, password="!")
        for i in range(N_ENGINEERS)
    )
    profiles = EngineerProfile.objects.bulk_create(
        EngineerProfile(
            user=user,
            headline=f"Engineer {i}",
            rate_amount=rng.randint(5000, 20000),
            availability=rng.choice(["available", "limited", "unavailable"]),
            rating_count=(count := rng.randint(0, 30)),
            rating_sum=count * rng.randint(3, 5),
        )
        for i, user in enumerate(engineers)
    )
    through = EngineerProfile.skills.through
    through.objects.bulk_create(
        through(engineerprofile_id=profile.pk, skill_id=skill.pk)
        for profile in profiles
        for skill in rng.sample(skills, rng.randint(1, 5))
    )
    now = timezone.now()
    badges = Badge.objects.bulk_create(
        Badge(
            engineer=user,
            challenge_slug="support-ticket-json",
            title="Support ticket JSON",
            band="strong",
            score=rng.uniform(0.6, 0.95),
            awarded_at=now,
        )
        for user in engineers[::3]
    )
    Badge.skills.through.objects.bulk_create(
        Badge.skills.through(badge_id=badge.pk, skill_id=rng.choice(skills).pk) for badge in badges
    )

    client = User.objects.create_user(username="bench-client", email="bench@example.com", password="x" * 16)
    requests = HiringRequest.objects.bulk_create(
        HiringRequest(
            client=client,
            title=f"Request {i}",
            description="Fine-tune a model. " * 20,
            budget_min=100_000,
            budget_max=500_000,
            deadline=now.date() + timedelta(days=60),
            data_description="Tickets.",
            state=HiringRequest.State.OPEN,
            published_at=now,
        )
        for i in range(N_REQUESTS)
    )
    HiringRequest.skills.through.objects.bulk_create(
        HiringRequest.skills.through(hiringrequest_id=r.pk, skill_id=skill.pk)
        for r in requests
        for skill in rng.sample(skills, 3)
    )
    # One engagement with a realistic history, reached through the real services.
    target = requests[0]
    consultation = request_services.consultation_invite(
        actor=client, request_id=target.pk, engineer_id=engineers[0].pk
    )
    due = now.date() + timedelta(days=20)
    proposal = request_services.proposal_submit(
        actor=engineers[0],
        consultation_id=consultation.pk,
        scope="Scope",
        price=400_000,
        milestones=[{"title": f"M{i}", "amount": 100_000, "due_date": due} for i in range(4)],
    )
    engagement = request_services.proposal_accept(actor=client, proposal_id=proposal.pk)
    for milestone in engagement.milestones.all()[:2]:
        engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
        engagement_services.milestone_start(actor=engineers[0], milestone_id=milestone.pk)
        engagement_services.milestone_submit(
            actor=engineers[0],
            milestone_id=milestone.pk,
            message="Done",
            links=["https://example.com/report"],
        )
    matching_request = requests[1]
    # A live database has planner statistics (and, on PostgreSQL, a visibility map for index-only scans);
    # a freshly bulk-loaded one has neither until autovacuum comes round.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return {
        "token": api_token_issue(user=client)[0],
        "matching_request": matching_request.pk,
        "engagement": engagement.pk,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, token: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/ping/", headers={"Authorization": f"Token {token}"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


def drive(port: int, path: str, token: str, seconds: float, concurrency: int) -> dict:
    """Keep-alive clients hitting one path for a fixed time. Any non-200 answer fails the run."""
    stop_at = time.monotonic() + seconds
    counts = [0] * concurrency
    errors: list[str] = []
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop_at:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"{path}: HTTP {response.status}")
                return
            counts[index] += 1
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise RuntimeError(errors[0])
    return {"requests": sum(counts), "seconds": round(elapsed, 2), "rps": round(sum(counts) / elapsed, 1)}


def measure(port: int, paths: dict[str, str], token: str, seconds: float, concurrency: int) -> dict:
    """Drive each path for `seconds` in all, in one-second turns taken in rotating order, so that a
    change in the machine's load during the run weighs on every path alike (the ratios stay fair)."""
    turns = max(1, round(seconds / TURN_SECONDS))
    totals = {name: {"requests": 0, "seconds": 0.0} for name in paths}
    names = list(paths)
    for turn in range(turns):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            result = drive(port, paths[name], token, seconds / turns, concurrency)
            totals[name]["requests"] += result["requests"]
            totals[name]["seconds"] += result["seconds"]
    return {
        name: {
            "requests": total["requests"],
            "seconds": round(total["seconds"], 2),
            "rps": round(total["requests"] / total["seconds"], 1),
        }
        for name, total in totals.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    url = bench_database_url()
    prepare_database(url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "EMAIL_URL": "dummymail://",
    }
    os.environ.update(env)
    sys.path.insert(0, str(BASE_DIR))
    ids = seed()

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
        ],
        cwd=BASE_DIR,
        env=env,
        start_new_session=True,
    )
    try:
        wait_for(port, ids["token"])
        endpoints = {
            "request_list": "/api/v1/requests/",
            "engineer_matching": f"/api/v1/requests/{ids['matching_request']}/matches/",
            "engagement_detail": f"/api/v1/engagements/{ids['engagement']}/",
        }
        # Warm every worker's connections and caches before measuring.
        for path in ["/api/v1/ping/", *endpoints.values()]:
            drive(port, path, ids["token"], 1.0, args.concurrency)
        measured = measure(
            port, {"baseline": "/api/v1/ping/", **endpoints}, ids["token"], args.seconds, args.concurrency
        )
        baseline = measured.pop("baseline")
        print(json.dumps({"bench": "api_load.baseline", "path": "/api/v1/ping/", **baseline}), flush=True)
        results = {}
        for name, path in endpoints.items():
            results[name] = measured[name]
            print(
                json.dumps(
                    {
                        "bench": f"api_load.{name}",
                        "path": path,
                        **results[name],
                        "ratio": round(results[name]["rps"] / baseline["rps"], 3),
                    }
                ),
                flush=True,
            )
        slowest = min(results, key=lambda name: results[name]["rps"])
        value = results[slowest]["rps"]
        print(
            json.dumps(
                {
                    "bench": "api_load",
                    "value": value,
                    "unit": "req/s",
                    "baseline": baseline["rps"],
                    "ratio": round(value / baseline["rps"], 3),
                    "slowest": slowest,
                    "database": url.split(":")[0],
                    "workers": args.workers,
                    "concurrency": args.concurrency,
                    "requests": N_REQUESTS,
                    "engineers": N_ENGINEERS,
                }
            ),
            flush=True,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
