"""Acceptance-run fixtures: a milestone on the tiny base model with an acceptance test, funded and in
progress; a real LoRA adapter of the tiny model as the engineer uploads it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from acceptance import services as acceptance_services
from acceptance.models import AcceptanceTest
from marketplace.models import Milestone
from marketplace.services import engagements as engagement_services
from sandbox.models import Job
from tests.acceptance.sets import jsonl, ticket_items
from tests.factories import engagement
from tests.vetting.test_pipeline_support import TINY, end_job

SET = jsonl(ticket_items(24))  # 20 private items and a public sample of 4


def adapter_upload(adapter_bytes: dict[str, bytes]) -> dict[str, SimpleUploadedFile]:
    """As a browser sends them: any file names; the fields say which file is which."""
    return {
        "adapter_config": SimpleUploadedFile("my-config.json", adapter_bytes["adapter_config.json"]),
        "adapter_model": SimpleUploadedFile(
            "weights.safetensors", adapter_bytes["adapter_model.safetensors"]
        ),
    }


def milestone_with_test(
    *,
    pass_mark: float = 0.8,
    floor: float = 0.9,
    start: bool = True,
    client=None,
    engineer=None,
    training_budget_minutes: int = 0,
) -> Milestone:
    milestone = engagement(amounts=(300_000,), client=client, engineer=engineer).milestones.get()
    acceptance_services.acceptance_terms_set(
        actor=milestone.engagement.client,
        milestone_id=milestone.pk,
        eval_set=SimpleUploadedFile("tickets.jsonl", SET),
        metric="label",
        pass_mark=pass_mark,
        base_model=TINY,
        forgetting_floor=floor,
        public_sample_size=4,
        training_budget_minutes=training_budget_minutes,
    )
    if start:
        engagement_services.milestone_mark_funded(milestone_id=milestone.pk)
        engagement_services.milestone_start(actor=milestone.engagement.engineer, milestone_id=milestone.pk)
    milestone.refresh_from_db()
    return milestone


def private_texts(milestone: Milestone) -> list[str]:
    test = AcceptanceTest.objects.get(milestone=milestone)
    return [item.messages[-1]["content"] for item in test.items.filter(is_public=False)]


Outputs = Callable[[str, str], str]  # (configuration, item key) -> output


def right_answers(milestone: Milestone) -> Outputs:
    """The right output for every prompt of a run on this milestone (task items and general set)."""
    from acceptance.pipeline import general_items
    from vetting.challenges import GENERAL_METRIC

    targets = {
        str(item.position): item.target
        for item in AcceptanceTest.objects.get(milestone=milestone).items.all()
    }
    general = [GENERAL_METRIC.render(target) for _, target in general_items()]

    def output(config: str, key: str) -> str:
        return general[int(key)] if config.startswith("general") else targets[key]

    return output


def wrong_where(outputs: Outputs, *configs: str) -> Outputs:
    return lambda config, key: "I cannot help with that." if config in configs else outputs(config, key)


def finish_job(job: Job, outputs: Outputs | None, *, reason: str = "") -> Job:
    """Play the supervisor for an evaluate job: the engine's generations for its prompts, then the end."""

    def write(output_dir: Path) -> None:
        lines = []
        for line in Path(job.spec["prompts_path"]).read_text().splitlines():
            prompt_id = json.loads(line)["id"]
            config, _, item = prompt_id.partition("|")
            lines.append(json.dumps({"id": prompt_id, "output": outputs(config, item), "prompt_tokens": 50}))
        (output_dir / "generations.jsonl").write_text("\n".join(lines) + "\n")
        (output_dir / "metrics.json").write_text(json.dumps({"prompt_tokens": 1000, "output_tokens": 100}))

    return end_job(job, write=write if outputs is not None else None, reason=reason, message="boom")
