"""A management command, the shape of a cron job: capture, print, exit. No explicit flush:
oakdata's exit hook delivers what waits when the interpreter exits."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recipe_django.analytics.client import oak


class Command(BaseCommand):
    help = "Capture one signed_up event per user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("count", type=int)

    def handle(self, *args: Any, count: int, **options: Any) -> None:
        for n in range(count):
            uuid = oak.capture(f"user_{n}", "signed_up", {"source": "import"})
            self.stdout.write(f"captured {uuid}")
