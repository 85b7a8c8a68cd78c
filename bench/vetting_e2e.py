"""`python -m bench.vetting_e2e`: one vetting submission through the whole pipeline, timed.

One `support-ticket-json` dataset submission of 300 examples (from the challenge's public generator,
in a seed space of its own, never the hidden items') on SmolLM2-135M-Instruct: validation with the
real tokenizer, the train job, the evaluate jobs (the base model's zero-shot, few-shot and general
baselines included: a fresh eval-set version has none stored), scoring and the verdict.

By default it runs as production does: a real Celery worker (queues gpu + default, one process) on a
broker folder of its own, the real sandbox, a database of its own (var/bench-vetting.sqlite3, made
afresh). `--eager` runs every step inline in this process instead (no broker, no worker).

Reported: the total wall time from submitting to the verdict, and the share of it spent outside the
engines' own compute (the training loop's seconds and the generation loops' seconds, as the engines
report them): process start-up and model loading in each sandbox, queueing, the pipeline's steps and
scoring. The last line is the headline:
{"bench": "vetting_e2e", "value": <total seconds>, "unit": "s", "overhead_share": ..., ...}.

Options: --examples (300), --feedback/--final (eval-set split sizes; default the platform's), --eager,
--keep (leave the database and folders for inspection).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
SLUG = "support-ticket-json"
HYPERPARAMETERS = {
    "rank": 16,
    "alpha": 32,
    "epochs": 1,
    # Micro-batches of 4 (effective 8): within the sandbox's default 8 GB on a CPU host.
    "batch_size": 4,
    "gradient_accumulation": 2,
    "learning_rate": 1e-3,
    "max_seq_length": 384,
    "seed": 0,
}


def report(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def settings_module(folder: Path, args: argparse.Namespace) -> str:
    """A settings module of the bench's own: database, broker folder, sandbox and media folders."""
    broker = folder / "broker"
    for name in ("queue", "processed", "control"):
        (broker / name).mkdir(parents=True, exist_ok=True)
    overrides = {
        "CELERY_TASK_ALWAYS_EAGER": bool(args.eager),
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_TRANSPORT_OPTIONS": {
            "data_folder_in": str(broker / "queue"),
            "data_folder_out": str(broker / "queue"),
            "processed_folder": str(broker / "processed"),
            "control_folder": str(broker / "control"),
            "store_processed": False,
        },
        "SANDBOX_ROOT": str(folder / "sandbox"),
        "MEDIA_ROOT": str(folder / "media"),
        "VETTING_SECRET_SEED": "bench-vetting-e2e-seed",
    }
    if args.feedback:
        overrides["VETTING_MIN_FEEDBACK_ITEMS"] = args.feedback
    if args.final:
        overrides["VETTING_MIN_FINAL_ITEMS"] = args.final
    lines = [
        "from config.settings import *  # noqa",
        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', 'NAME': {str(args.database)!r}, "
        "'OPTIONS': {'timeout': 20, 'transaction_mode': 'IMMEDIATE'}, 'CONN_MAX_AGE': 0, 'ATOMIC_REQUESTS': False}}",
    ]
    lines += [f"{key} = {value!r}" for key, value in overrides.items()]
    (folder / "bench_vetting_settings.py").write_text("\n".join(lines) + "\n")
    return "bench_vetting_settings"


def dataset(challenge, count: int) -> bytes:
    from vetting.challenges import BUILTIN
    from vetting.challenges.base import derive_rng

    spec = BUILTIN[challenge.slug]
    rng = derive_rng("bench-vetting-e2e", challenge.slug)
    lines = []
    for _ in range(count):
        text, target = spec.generate(rng)
        messages = [
            {"role": "system", "content": challenge.system_prompt},
            {"role": "user", "content": challenge.prompt.user_content(text)},
            {"role": "assistant", "content": spec.metric.render(target)},
        ]
        lines.append(json.dumps({"messages": messages}))
    return ("\n".join(lines) + "\n").encode()


def start_worker(folder: Path, module: str) -> subprocess.Popen:
    log = (folder / "worker.log").open("ab")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": module, "PYTHONPATH": f"{folder}{os.pathsep}{PROJECT_DIR}"}
    celery = str(Path(sys.executable).parent / "celery")
    command = [
        celery,
        "-A",
        "config",
        "worker",
        "-Q",
        "gpu,default",
        "-c",
        "1",
        "-P",
        "prefork",
        "-l",
        "INFO",
    ]
    command += ["-n", "bench-vetting@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while b" ready." not in (folder / "worker.log").read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start: {(folder / 'worker.log').read_text()[-2000:]}")
        time.sleep(0.5)
    return process


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def bench_django(name: str, args: argparse.Namespace, slug: str):
    """A bench's own Django: a fresh folder under var/ (database, broker, sandbox, media), its settings
    module, the base model prepared, the schema migrated and `slug` seeded. Returns (folder, settings
    module, the challenge)."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir=PROJECT_DIR / "var"))
    args.database = folder / f"bench-{name}.sqlite3"
    module = settings_module(folder, args)
    sys.path.insert(0, str(folder))
    os.environ["DJANGO_SETTINGS_MODULE"] = module
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import django

    django.setup()
    from django.core.management import call_command

    from sandbox import registry
    from vetting.models import Challenge

    registry.prepare(registry.DEFAULT_BASE_MODEL)
    call_command("migrate", verbosity=0)
    with open(os.devnull, "w") as quiet:
        call_command("vetting_seed_challenges", only=[slug], stdout=quiet)
    return folder, module, Challenge.objects.get(slug=slug)


def seconds(start, end) -> float | None:
    return round((end - start).total_seconds(), 2) if start and end else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--feedback", type=int, default=0, help="Feedback items (default: the platform's).")
    parser.add_argument("--final", type=int, default=0, help="Final items (default: the platform's).")
    parser.add_argument("--eager", action="store_true", help="Run every step inline (no broker, no worker).")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--timeout", type=float, default=6 * 3600)
    args = parser.parse_args()
    # Stopped from outside: still stop the worker (the `finally` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    folder, module, challenge = bench_django("vetting", args, SLUG)
    from django.utils import timezone

    from marketplace.models import User
    from sandbox.models import Job
    from vetting import pipeline
    from vetting.models import Submission

    engineer = User.objects.create_user(
        username="bench-engineer", email="bench-engineer@example.com", role=User.Role.ENGINEER
    )
    data = dataset(challenge, args.examples)
    eval_set = challenge.eval_sets.get(is_active=True)
    report(
        bench="vetting_e2e.setup",
        mode="eager" if args.eager else "worker",
        examples=args.examples,
        eval_items=eval_set.stats.get("counts"),
        base_model=challenge.base_model,
        device=os.environ.get("SANDBOX_DEVICE", "cpu"),
    )

    worker = None if args.eager else start_worker(folder, module)
    try:
        started = time.monotonic()
        submitted_at = timezone.now()
        submission = pipeline.submission_submit(
            actor=engineer,
            challenge_id=challenge.pk,
            kind=Submission.Kind.DATASET,
            dataset=data,
            hyperparameters=HYPERPARAMETERS,
        )
        validated = time.monotonic() - started
        if submission.state != Submission.State.QUEUED:
            raise SystemExit(
                f"the dataset was {submission.state}: {submission.validation_report['errors'][:3]}"
            )
        while not submission.is_finished:
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"still {submission.state} after {args.timeout} s")
            time.sleep(0.5)
            submission.refresh_from_db()
        total = time.monotonic() - started
    finally:
        if worker is not None:
            stop_worker(worker)

    if submission.state not in (Submission.State.PASSED, Submission.State.FAILED):
        raise SystemExit(f"submission {submission.state}: {submission.failure_message}")
    jobs = list(Job.objects.filter(pk__in=submission.job_ids.values()).order_by("pk"))
    compute = 0.0
    for job in jobs:
        engine = float(job.metrics.get("train_seconds") or job.metrics.get("generate_seconds") or 0.0)
        compute += engine
        report(
            bench="vetting_e2e.job",
            job=job.pk,
            kind=job.kind,
            role=next(key for key, value in submission.job_ids.items() if value == job.pk),
            queued_seconds=seconds(job.created_at, job.started_at),
            wall_seconds=seconds(job.started_at, job.finished_at),
            engine_compute_seconds=round(engine, 2),
            prompts=job.metrics.get("prompts"),
            trained_tokens=job.metrics.get("trained_tokens"),
        )
    finished_at = submission.finished_at
    last_job_end = max(job.finished_at for job in jobs)
    report(
        bench="vetting_e2e.submission",
        state=submission.state,
        scores={
            "base": submission.base_score,
            "few_shot": submission.few_shot_score,
            "fine_tuned": submission.fine_tuned_score,
            "general_base": submission.general_base_score,
            "general_fine_tuned": submission.general_fine_tuned_score,
            "forgetting_ratio": submission.forgetting_ratio,
        },
        reasons=submission.verdict.get("reasons"),
        validate_seconds=round(validated, 2),
        first_job_wait_seconds=seconds(submitted_at, jobs[0].started_at),
        scoring_after_last_job_seconds=seconds(last_job_end, finished_at),
    )
    overhead = max(0.0, total - compute)
    report(
        bench="vetting_e2e",
        value=round(total, 1),
        unit="s",
        overhead_share=round(overhead / total, 4),
        compute_seconds=round(compute, 1),
        overhead_seconds=round(overhead, 1),
        mode="eager" if args.eager else "worker",
        baseline="engine compute (training loop + generation loops, as the engines report them)",
        ratio=round(total / compute, 3) if compute else None,
    )
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
