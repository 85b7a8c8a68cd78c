"""Reference runs that set a challenge's pass mark and forgetting margin (DESIGN section 7).

    python manage.py vetting_calibrate --challenge support-ticket-json [--seeds 3] \
        [--record vetting/calibration/results/support-ticket-json.json] [--apply [--force]]
    python manage.py vetting_calibrate --challenge support-ticket-json --export DIR

Runs the careful, naive and mislabelled reference submissions (vetting.calibration.datasets; task
data written from the public instructions only, never the generator), careful and naive once per
seed, records each finished run at once (on the eval-set version and, with --record, in a JSON file),
and resumes from what is recorded. Once every planned run is in, it proposes the pass mark and the
forgetting margin (vetting.calibration.rules) and with --apply sets them when the proposal is ok (or
with --force). A challenge calibrated with one seed can borrow the run-to-run spread measured on
another (--spread-from that challenge's record). The last line printed is the calibration, one JSON object.

With --export it runs nothing: it writes the three reference datasets and their hyperparameters into DIR,
as an engineer would submit them (`vetting_submit --dataset DIR/careful.jsonl --hyperparams
DIR/careful-hyperparameters.json --wait`).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from vetting.calibration.datasets import NotEnoughPrompts
from vetting.calibration.runs import CalibrationOptions, calibrate, export_datasets
from vetting.models import Challenge

DEFAULTS = CalibrationOptions()


class Command(BaseCommand):
    help = "Run the reference submissions of a challenge and propose its pass mark and forgetting margin."

    def add_arguments(self, parser):
        parser.add_argument("--challenge", required=True)
        parser.add_argument("--examples", type=int, default=DEFAULTS.examples, help="Task examples.")
        parser.add_argument(
            "--general-examples", type=int, default=DEFAULTS.general_examples, help="Self-distilled replay."
        )
        parser.add_argument(
            "--short-answer-examples",
            type=int,
            default=DEFAULTS.short_answer_examples,
            help="Self-distilled one-word questions added to the replay.",
        )
        parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
        parser.add_argument("--rank", type=int, default=DEFAULTS.rank)
        parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
        parser.add_argument("--gradient-accumulation", type=int, default=DEFAULTS.gradient_accumulation)
        parser.add_argument("--max-seq-length", type=int, default=DEFAULTS.max_seq_length)
        parser.add_argument("--careful-lr", type=float, default=DEFAULTS.careful_lr)
        parser.add_argument("--naive-lr", type=float, default=DEFAULTS.naive_lr)
        parser.add_argument("--seeds", type=int, default=DEFAULTS.seeds, help="Seeds for careful and naive.")
        parser.add_argument(
            "--record", type=Path, help="JSON file the figures are written to (and resumed from)."
        )
        parser.add_argument(
            "--spread-from",
            type=Path,
            metavar="RECORD",
            help="A calibration record with several seeds: its run-to-run spread stands in for unmeasured ones.",
        )
        parser.add_argument("--apply", action="store_true", help="Write the rules onto the challenge.")
        parser.add_argument("--force", action="store_true", help="With --apply: even when not ok.")
        parser.add_argument("--timeout", type=float, default=DEFAULTS.timeout)
        parser.add_argument(
            "--export", type=Path, metavar="DIR", help="Only write the reference datasets into DIR."
        )

    def handle(self, *args, **options):
        challenge = Challenge.objects.filter(slug=options["challenge"]).first()
        if challenge is None:
            raise CommandError(f"No challenge {options['challenge']!r}.")
        if options["seeds"] < 1:
            raise CommandError("--seeds must be at least 1.")
        settings = CalibrationOptions(
            **{
                name: options[name]
                for name in CalibrationOptions.__dataclass_fields__
                if name in options and options[name] is not None
            }
        )
        try:
            if options["export"] is not None:
                export_datasets(
                    challenge=challenge, options=settings, directory=options["export"], say=self.stdout.write
                )
                return
            calibration = calibrate(
                challenge=challenge,
                options=settings,
                say=self.stdout.write,
                record_path=options["record"],
                apply=options["apply"],
                force=options["force"],
                spread_from=options["spread_from"],
            )
        except (ApplicationError, NotEnoughPrompts, KeyError) as exc:
            raise CommandError(str(getattr(exc, "message", exc))) from exc
        self.stdout.write(json.dumps(calibration))
