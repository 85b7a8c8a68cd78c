"""`python manage.py prepare_models [NAME ...] [--force]`: make the registered base models loadable.

Converts the GGUF-packaged default model to a cached safetensors checkpoint once; a second run finds
it prepared and returns at once. `make run` and `.ci/run` call it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import registry


class Command(BaseCommand):
    # The readiness checks report an unprepared model as an error; this command is their fix.
    requires_system_checks: list = []
    help = (
        "Prepare the registered base models (convert the packaged GGUF to a cached safetensors checkpoint)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="models to prepare (default: every registered model)")
        parser.add_argument("--force", action="store_true", help="convert again even if already prepared")

    def handle(self, *args: Any, names: list[str], force: bool, **options: Any) -> None:
        names = names or list(registry.registry())
        for name in names:
            try:
                result = registry.prepare(name, force=force, say=self.stdout.write)
            except registry.BaseModelError as exc:
                raise CommandError(str(exc)) from exc
            if result.converted:
                self.stdout.write(
                    self.style.SUCCESS(f"{name}: prepared in {result.seconds:.1f}s at {result.path}")
                )
            else:
                self.stdout.write(f"{name}: already prepared at {result.path}")
