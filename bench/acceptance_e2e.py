"""`python -m bench.acceptance_e2e`: one milestone acceptance run on the real base model, timed.

A client's 200-item acceptance set for a support-ticket-to-JSON task (metric `json_fields`), made by the
`support-ticket-json` challenge's public generator in a seed space of its own; an adapter the platform
trains first (one train job in the sandbox on 300 examples from another seed space: the engineer's
work, not timed); then the engineer's delivery through the real service, the run's evaluate jobs
(the base model zero-shot + few-shot on the private items; the base model on the general set; the
adapter on both, in one job) and the report. As production runs it: a real Celery worker (queues gpu + default) on a broker
folder of its own, the bubblewrap sandbox, a database of its own (made afresh).

Reported: the run's wall time from the delivery to the report, and the share of it spent outside the
evaluation engine's own generation loops (process start-up and model loading in each sandbox,
queueing, the run's steps and scoring). The last line is the headline:
{"bench": "acceptance_e2e", "value": <run seconds>, "unit": "s", "overhead_share": ..., ...}.

Options: --items (200), --train-examples (300), --keep.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import sys
import time
from datetime import timedelta

from bench.vetting_e2e import (
    HYPERPARAMETERS,
    bench_django,
    report,
    seconds,
    start_worker,
    stop_worker,
)

SLUG = "support-ticket-json"


class Upload(io.BytesIO):
    """A file as Django hands an upload over (a name, a size, chunks)."""

    def __init__(self, name: str, data: bytes) -> None:
        super().__init__(data)
        self.name, self.size = name, len(data)

    def chunks(self, chunk_size=None):
        yield self.getvalue()


def items(challenge, count: int, seed: str) -> list[tuple[list[dict], str]]:
    from vetting.challenges import BUILTIN
    from vetting.challenges.base import derive_rng

    spec = BUILTIN[challenge.slug]
    rng = derive_rng(seed, challenge.slug)
    made, seen = [], set()
    while len(made) < count:
        text, target = spec.generate(rng)
        if text in seen:
            continue
        seen.add(text)
        prompt = [
            {"role": "system", "content": challenge.system_prompt},
            {"role": "user", "content": challenge.prompt.user_content(text)},
        ]
        made.append((prompt, spec.metric.render(target)))
    return made


def wait(predicate, what: str, timeout: float):
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{what}: still waiting after {timeout} s")
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--train-examples", type=int, default=300)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--timeout", type=float, default=6 * 3600)
    args = parser.parse_args()
    args.eager, args.feedback, args.final = False, 0, 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    folder, module, challenge = bench_django("acceptance", args, SLUG)
    from django.utils import timezone

    from acceptance.models import AcceptanceRun
    from acceptance.services import acceptance_terms_set
    from marketplace.models import User
    from marketplace.services import engagements, requests
    from sandbox import registry
    from sandbox import services as sandbox_services
    from sandbox.models import Job

    client = User.objects.create_user(username="bench-client", email="c@example.com", role=User.Role.CLIENT)
    engineer = User.objects.create_user(
        username="bench-engineer", email="e@example.com", role=User.Role.ENGINEER
    )
    hiring_request = requests.request_create(
        actor=client,
        title="Support tickets to JSON",
        description="Route customer messages as JSON.",
        budget_min=100_000,
        budget_max=300_000,
        currency="usd",
        deadline=None,
        skills=["LoRA"],
    )
    requests.request_publish(actor=client, request_id=hiring_request.pk)
    consultation = requests.consultation_invite(
        actor=client, request_id=hiring_request.pk, engineer_id=engineer.pk
    )
    due = timezone.localdate() + timedelta(days=30)
    proposal = requests.proposal_submit(
        actor=engineer,
        consultation_id=consultation.pk,
        scope="A LoRA adapter.",
        price=200_000,
        milestones=[{"title": "Adapter", "amount": 200_000, "due_date": due}],
    )
    milestone = requests.proposal_accept(actor=client, proposal_id=proposal.pk).milestones.get()
    evaluation = [
        {"messages": prompt, "target": target}
        for prompt, target in items(challenge, args.items, "bench-acceptance-client")
    ]
    lines = [
        json.dumps({"messages": [*row["messages"], {"role": "assistant", "content": row["target"]}]})
        for row in evaluation
    ]
    test = acceptance_terms_set(
        actor=client,
        milestone_id=milestone.pk,
        eval_set=Upload("tickets.jsonl", ("\n".join(lines) + "\n").encode()),
        metric="json_fields",
        pass_mark=0.8,
        forgetting_floor=0.9,
    )
    engagements.milestone_mark_funded(milestone_id=milestone.pk)
    engagements.milestone_start(actor=engineer, milestone_id=milestone.pk)
    report(
        bench="acceptance_e2e.setup",
        items=test.item_count,
        private_items=test.private_count,
        train_examples=args.train_examples,
        base_model=test.base_model,
        device=os.environ.get("SANDBOX_DEVICE", "cpu"),
    )

    worker = start_worker(folder, module)
    try:
        # The engineer's work (not timed): an adapter trained in the sandbox on generator data.
        training = [
            {"messages": [*prompt, {"role": "assistant", "content": target}]}
            for prompt, target in items(challenge, args.train_examples, "bench-acceptance-engineer")
        ]
        dataset = folder / "train.jsonl"
        dataset.write_text("\n".join(json.dumps(row) for row in training) + "\n")
        train = sandbox_services.job_create(
            kind=Job.Kind.TRAIN,
            owner=engineer,
            spec={
                "base_model_dir": str(registry.base_model_dir(test.base_model)),
                "dataset_path": str(dataset),
                "hyperparameters": HYPERPARAMETERS,
            },
            wall_seconds=5 * 3600 - 60,
        )
        wait(lambda: Job.objects.get(pk=train.pk).is_finished, "training", args.timeout)
        train = Job.objects.get(pk=train.pk)
        if train.state != Job.State.SUCCEEDED:
            raise SystemExit(f"training {train.state}: {train.failure_message}")
        adapter = sandbox_services.job_output_dir(train) / "adapter"
        report(
            bench="acceptance_e2e.train",
            wall_seconds=seconds(train.started_at, train.finished_at),
            trained_tokens=train.metrics.get("trained_tokens"),
        )

        started = time.monotonic()
        delivery = engagements.milestone_submit(
            actor=engineer,
            milestone_id=milestone.pk,
            message="The adapter.",
            adapter={
                "adapter_config": Upload(
                    "adapter_config.json", (adapter / "adapter_config.json").read_bytes()
                ),
                "adapter_model": Upload(
                    "adapter_model.safetensors", (adapter / "adapter_model.safetensors").read_bytes()
                ),
            },
        )
        run = AcceptanceRun.objects.get(delivery=delivery)
        wait(lambda: AcceptanceRun.objects.get(pk=run.pk).is_finished, "the acceptance run", args.timeout)
        total = time.monotonic() - started
    finally:
        stop_worker(worker)

    run.refresh_from_db()
    if run.state == AcceptanceRun.State.ERRORED:
        raise SystemExit(f"the run errored: {run.error_message}")
    compute = 0.0
    for link in run.job_links.select_related("job").order_by("job_id"):
        job = link.job
        engine = float(job.metrics.get("generate_seconds") or 0.0)
        compute += engine
        report(
            bench="acceptance_e2e.job",
            role=link.role,
            queued_seconds=seconds(job.created_at, job.started_at),
            wall_seconds=seconds(job.started_at, job.finished_at),
            engine_compute_seconds=round(engine, 2),
            prompts=job.metrics.get("prompts"),
        )
    report(bench="acceptance_e2e.run", state=run.state, scores=run.scores, reasons=run.reasons, cost=run.cost)
    overhead = max(0.0, total - compute)
    report(
        bench="acceptance_e2e",
        value=round(total, 1),
        unit="s",
        overhead_share=round(overhead / total, 4),
        compute_seconds=round(compute, 1),
        overhead_seconds=round(overhead, 1),
        baseline="engine compute (the generation loops, as the evaluation engine reports them)",
        ratio=round(total / compute, 3) if compute else None,
    )
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
