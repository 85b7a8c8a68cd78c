"""Reference runs that set a challenge's pass mark and forgetting gate (DESIGN section 7).

    python manage.py vetting_calibrate --challenge support-ticket-json [--examples 200] \
        [--general-examples 100] [--apply]

The platform submits two datasets of its own through the same pipeline as any engineer's, on the
active eval-set version, as the platform user `vetting-calibration` (staff: no attempt limit, no
badge):

- naive: task examples only, at a high learning rate. Tuning this way forgets general ability;
  it must fail.
- careful: the same task examples plus self-distilled general examples (everyday instructions
  answered by the base model itself, so that tuning keeps those answers) at a gentle learning rate;
  it must pass.

Task examples come from the challenge's public generator in a seed space of their own (never the
hidden items' space); the distillation prompts are everyday instructions of kinds the general set
does not ask. From the two runs:

- forgetting gate: 0.05 below what the careful run kept (a drop of five points is what the general
  set is sized to see), at most the platform default, and above what the naive run kept; when the
  two are closer than that, their midpoint;
- pass mark: the lower bound of the careful run's 95% interval on the final split, rounded down to
  0.05 (bands raised to at least the mark).

Both runs are then judged again under the proposed rules; the calibration is `ok` when the naive run
fails and the careful one passes. Everything is recorded in EvalSetVersion.calibration; --apply
also writes the rules onto the challenge (only when ok, unless --force). The last line printed is
the calibration, one JSON object.
"""

from __future__ import annotations

import json
import math
import random
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, full_clean_or_raise
from marketplace.models import User
from sandbox import registry
from sandbox.models import Job
from vetting import pipeline, verdict
from vetting.challenges import BUILTIN
from vetting.challenges.base import derive_rng
from vetting.models import Challenge, EvalSetVersion, Submission
from vetting.selectors import submission_staff_report

PLATFORM_USER = "vetting-calibration"
FORGETTING_MARGIN = 0.05
THRESHOLD_STEP = 0.05
DISTILL_MAX_NEW_TOKENS = 48

# Everyday instructions for self-distillation; none of the general set's kinds (repeat a word,
# capitals, opposites, languages spoken, plurals).
DISTILL_TEMPLATES = {
    "Write one short sentence about {}.": [
        "the ocean",
        "autumn leaves",
        "a rainy morning",
        "fresh bread",
        "a quiet library",
        "mountain hiking",
        "city buses",
        "a birthday party",
        "learning to swim",
        "a summer night",
        "old photographs",
        "a busy kitchen",
        "snow in the park",
        "a long train ride",
        "planting tomatoes",
        "a lighthouse",
    ],
    "Give me one tip for {}.": [
        "sleeping better",
        "saving money",
        "studying for an exam",
        "keeping plants alive",
        "running faster",
        "writing an email",
        "packing a suitcase",
        "cooking rice",
        "staying focused",
        "making new friends",
        "learning a song",
        "cleaning a window",
        "drinking more water",
        "giving a speech",
    ],
    "What is {} times {}?": [(a, b) for a in (2, 3, 4, 5, 10) for b in (3, 4, 6, 7, 10, 11)],
    "Describe a {} in a few words.": [
        "cat",
        "sunflower",
        "bicycle",
        "volcano",
        "library",
        "penguin",
        "rainforest",
        "sandwich",
        "thunderstorm",
        "clock",
        "waterfall",
        "backpack",
        "kitten",
        "desert island",
    ],
    "What is a {} used for?": [
        "hammer",
        "spoon",
        "ladder",
        "thermometer",
        "compass",
        "stapler",
        "broom",
        "calculator",
        "microscope",
        "toothbrush",
        "map",
        "whistle",
        "net",
        "bucket",
    ],
    "Suggest a name for a pet {}.": ["dog", "goldfish", "hamster", "parrot", "turtle", "rabbit", "pony"],
    "Why do people like {}?": [
        "holidays",
        "music",
        "ice cream",
        "gardens",
        "board games",
        "long walks",
        "movies",
        "the beach",
        "pizza",
        "sunny days",
    ],
    "Name something you might find in a {}.": [
        "kitchen",
        "classroom",
        "garage",
        "hospital",
        "forest",
        "supermarket",
        "toolbox",
        "museum",
        "office",
    ],
}


def distill_prompts(count: int, rng: random.Random) -> list[str]:
    prompts = [
        template.format(*(filler if isinstance(filler, tuple) else (filler,)))
        for template, fillers in DISTILL_TEMPLATES.items()
        for filler in fillers
    ]
    rng.shuffle(prompts)
    if count > len(prompts):
        raise CommandError(f"At most {len(prompts)} general examples (the distillation prompts).")
    return prompts[:count]


def chat(messages: list[dict[str, str]]) -> str:
    return json.dumps({"messages": messages}, ensure_ascii=False)


def round_down(value: float, step: float) -> float:
    return round(math.floor(round(value / step, 6)) * step, 4)


class Command(BaseCommand):
    help = "Run the naive and careful reference submissions and set the pass mark and forgetting gate."

    def add_arguments(self, parser):
        parser.add_argument("--challenge", required=True)
        parser.add_argument("--examples", type=int, default=200, help="Task examples in each dataset.")
        parser.add_argument(
            "--general-examples", type=int, default=100, help="Self-distilled examples (careful)."
        )
        parser.add_argument("--epochs", type=int, default=1)
        parser.add_argument("--rank", type=int, default=16)
        # 4 x 2 accumulated: an effective batch of 8 within the sandbox's default memory on a CPU host.
        parser.add_argument("--batch-size", type=int, default=4)
        parser.add_argument("--gradient-accumulation", type=int, default=2)
        parser.add_argument("--max-seq-length", type=int, default=384)
        parser.add_argument("--naive-lr", type=float, default=1e-3)
        parser.add_argument("--careful-lr", type=float, default=3e-4)
        parser.add_argument("--apply", action="store_true", help="Write the rules onto the challenge.")
        parser.add_argument("--force", action="store_true", help="With --apply: even when not ok.")
        parser.add_argument("--timeout", type=float, default=12 * 3600)

    def handle(self, *args, **options):
        challenge = Challenge.objects.filter(slug=options["challenge"]).first()
        if challenge is None:
            raise CommandError(f"No challenge {options['challenge']!r}.")
        spec = BUILTIN.get(challenge.slug)
        if spec is None:
            raise CommandError("Reference datasets come from a built-in challenge's generator.")
        eval_set = challenge.eval_sets.filter(is_active=True).first()
        if eval_set is None:
            raise CommandError("The challenge has no active eval-set version.")
        if not registry.is_prepared(challenge.base_model):
            raise CommandError(
                f"Base model {challenge.base_model} is not prepared (manage.py prepare_models)."
            )
        self.deadline = time.monotonic() + options["timeout"]
        user = self._platform_user()
        started = time.monotonic()

        rng = derive_rng("calibration", challenge.slug, str(eval_set.version))
        task = []
        for _ in range(options["examples"]):
            text, target = spec.generate(rng)
            task.append(
                chat(
                    [
                        *(
                            [{"role": "system", "content": challenge.system_prompt}]
                            if challenge.system_prompt
                            else []
                        ),
                        {"role": "user", "content": challenge.prompt.user_content(text)},
                        {"role": "assistant", "content": spec.metric.render(target)},
                    ]
                )
            )
        general = self._distilled(challenge, distill_prompts(options["general_examples"], rng))
        careful_lines = task + general
        rng.shuffle(careful_lines)
        common = {
            "rank": options["rank"],
            "alpha": 2.0 * options["rank"],
            "epochs": options["epochs"],
            "batch_size": options["batch_size"],
            "gradient_accumulation": options["gradient_accumulation"],
            "max_seq_length": options["max_seq_length"],
            "seed": 0,
        }
        recipes = {
            "naive": ("\n".join(task) + "\n", {**common, "learning_rate": options["naive_lr"]}),
            "careful": ("\n".join(careful_lines) + "\n", {**common, "learning_rate": options["careful_lr"]}),
        }
        submissions = {}
        for name, (data, hyperparameters) in recipes.items():
            try:
                submission = pipeline.submission_submit(
                    actor=user,
                    challenge_id=challenge.pk,
                    kind=Submission.Kind.DATASET,
                    dataset=data.encode(),
                    hyperparameters=hyperparameters,
                )
            except ApplicationError as exc:
                raise CommandError(f"{name}: {exc.message}") from exc
            if submission.state == Submission.State.REJECTED:
                raise CommandError(f"{name}: rejected: {submission.validation_report['errors'][:3]}")
            self.stdout.write(f"{name}: submission {submission.pk} ({len(data.splitlines())} examples)")
            submissions[name] = submission
        for name, submission in submissions.items():
            submissions[name] = self._wait(submission, name)

        runs = {
            name: self._figures(submission, recipes[name][1], len(recipes[name][0].splitlines()))
            for name, submission in submissions.items()
        }
        calibration = self._propose(challenge, runs)
        calibration |= {
            "base_model": challenge.base_model,
            "eval_set_version": eval_set.version,
            "recorded_at": timezone.now().isoformat(),
            "wall_seconds": round(time.monotonic() - started, 1),
            "applied": False,
        }
        with transaction.atomic():
            locked_set = EvalSetVersion.objects.select_for_update().get(pk=eval_set.pk)
            if options["apply"] and (calibration["ok"] or options["force"]):
                locked = Challenge.objects.select_for_update().get(pk=challenge.pk)
                for field, value in calibration["proposed"].items():
                    setattr(locked, field, value)
                full_clean_or_raise(locked)
                locked.save()
                calibration["applied"] = True
            locked_set.calibration = calibration
            locked_set.save(update_fields=["calibration", "updated_at"])
        self.stdout.write(json.dumps(calibration))

    # --- steps --------------------------------------------------------------------------------

    def _platform_user(self) -> User:
        user, _ = User.objects.get_or_create(
            username=PLATFORM_USER,
            defaults={
                "email": f"{PLATFORM_USER}@platform.invalid",
                "is_staff": True,
                "first_name": "Calibration",
            },
        )
        if not user.is_staff:
            raise CommandError(f"The user {PLATFORM_USER} exists and is not staff.")
        return user

    def _distilled(self, challenge: Challenge, prompts: list[str]) -> list[str]:
        """The base model's own answers to everyday instructions, as bare user/assistant chats."""
        if not prompts:
            return []
        base_dir = registry.base_model_dir(challenge.base_model)
        job = pipeline.evaluate_job(
            base_dir=base_dir,
            adapter_dir=None,
            prompts=[
                {
                    "id": f"distill{pipeline.ID_SEPARATOR}{index}",
                    "messages": [{"role": "user", "content": prompt}],
                }
                for index, prompt in enumerate(prompts)
            ],
            max_new_tokens=DISTILL_MAX_NEW_TOKENS,
        )
        self.stdout.write(f"distilling {len(prompts)} general answers from the base model (job {job.pk})")
        while not (job := Job.objects.get(pk=job.pk)).is_finished:
            if time.monotonic() > self.deadline:
                raise CommandError(f"job {job.pk} still {job.state} at the timeout")
            time.sleep(2)
        if job.state != Job.State.SUCCEEDED:
            raise CommandError(f"the distillation job {job.pk} {job.state}: {job.failure_reason}")
        answers = {
            record["id"]: record["output"].strip()
            for record in pipeline.read_generations(job).get("distill", [])
        }
        lines = [
            chat([{"role": "user", "content": prompt}, {"role": "assistant", "content": answers[str(index)]}])
            for index, prompt in enumerate(prompts)
            if answers.get(str(index))
        ]
        self.stdout.write(f"distilled {len(lines)} general examples")
        return lines

    def _wait(self, submission: Submission, name: str) -> Submission:
        last = ""
        while True:
            submission.refresh_from_db()
            line = f"{name}: {submission.state}"
            if line != last:
                self.stdout.write(line)
                last = line
            if submission.is_finished:
                break
            if time.monotonic() > self.deadline:
                raise CommandError(
                    f"{name}: submission {submission.pk} still {submission.state} at the timeout"
                )
            if settings.CELERY_TASK_ALWAYS_EAGER:
                pipeline.submission_advance(submission_id=submission.pk)
            time.sleep(2)
        if submission.state not in (Submission.State.PASSED, Submission.State.FAILED):
            raise CommandError(
                f"{name}: submission {submission.pk} {submission.state}: {submission.failure_message}"
            )
        return submission

    @staticmethod
    def _figures(submission: Submission, hyperparameters: dict[str, Any], examples: int) -> dict[str, Any]:
        report = submission_staff_report(submission=submission)
        return {
            "submission": submission.pk,
            "examples": examples,
            "hyperparameters": hyperparameters,
            "verdict_before": report["verdict"],
            "scores": report["scores"],
            "feedback": report["feedback"]["score"],
            "cost": report["cost"],
            "budget": next(
                rule["figure"] for rule in submission.verdict["rules"] if rule["rule"] == verdict.BUDGET
            ),
        }

    @staticmethod
    def _propose(challenge: Challenge, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
        naive, careful = runs["naive"]["scores"], runs["careful"]["scores"]
        ceiling = min(settings.VETTING_FORGETTING_MIN_RATIO, 1.0)
        gate = min(ceiling, round_down(careful["forgetting_ratio"] - FORGETTING_MARGIN, 0.01))
        if gate <= naive["forgetting_ratio"]:
            gate = round((naive["forgetting_ratio"] + careful["forgetting_ratio"]) / 2, 3)
        gate = max(0.01, min(1.0, gate))
        threshold = max(THRESHOLD_STEP, round_down(careful["fine_tuned_ci"][0], THRESHOLD_STEP))
        proposed = {
            "pass_threshold": threshold,
            "forgetting_min_ratio": gate,
            "band_strong": max(challenge.band_strong, threshold),
            "band_exceptional": max(challenge.band_exceptional, challenge.band_strong, threshold),
        }
        rules = verdict.PassRules(
            threshold=threshold,
            forgetting_min_ratio=gate,
            band_strong=proposed["band_strong"],
            band_exceptional=proposed["band_exceptional"],
        )
        judged = {}
        for name, run in runs.items():
            scores = run["scores"]
            decision = verdict.decide(
                final_score=scores["fine_tuned"],
                delta_ci=tuple(scores["delta_vs_few_shot_ci"]),
                forgetting_ratio=scores["forgetting_ratio"],
                budget={key: (value["used"], value["limit"]) for key, value in run["budget"].items()},
                rules=rules,
            )
            run["verdict_after"] = "pass" if decision["passed"] else "fail"
            run["reasons_after"] = decision["reasons"]
            judged[name] = decision["passed"]
        return {
            "ok": judged["careful"] and not judged["naive"],
            "proposed": proposed,
            "previous": {
                "pass_threshold": challenge.pass_threshold,
                "forgetting_min_ratio": challenge.forgetting_min_ratio,
                "band_strong": challenge.band_strong,
                "band_exceptional": challenge.band_exceptional,
            },
            "runs": runs,
        }
