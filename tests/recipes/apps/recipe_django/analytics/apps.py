from __future__ import annotations

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "recipe_django.analytics"

    def ready(self) -> None:
        # Make the client while Django starts: under gunicorn --preload that is in the
        # master, before the fork, and every worker then gets a fresh queue and thread.
        from . import client  # noqa: F401
