"""Create or update the built-in challenges, each with a first eval-set version. Safe to run again.

`--rotate` generates and activates a new eval-set version of each (new hidden items from the seed).
"""

from django.core.management.base import BaseCommand

from vetting.challenges import generated_specs
from vetting.services.evalsets import challenge_sync_builtin, evalset_generate


class Command(BaseCommand):
    help = "Create or update the built-in vetting challenges and their first eval-set versions."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rotate", action="store_true", help="Generate and activate a new version of each."
        )
        parser.add_argument("--only", action="append", help="Only this challenge (a slug).")

    def handle(self, *args, rotate: bool, only: list[str] | None, **options):
        for slug in only or generated_specs():
            challenge, created = challenge_sync_builtin(slug=slug)
            active = challenge.eval_sets.filter(is_active=True).first()
            if active is None and challenge.eval_sets.exists() and not rotate:
                note = "no active eval-set version (activate one in the admin)"
            elif active is None or rotate:
                active = evalset_generate(actor=None, challenge_id=challenge.pk)
                note = f"eval set v{active.version} generated and active"
            else:
                note = f"eval set v{active.version} active"
            counts = active.stats.get("counts", {}) if active else {}
            sizes = ", ".join(f"{split} {count}" for split, count in counts.items())
            self.stdout.write(
                f"{slug}: {'created' if created else 'updated'}; {note}" + (f" ({sizes})" if sizes else "")
            )
