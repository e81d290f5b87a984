"""Settings of the Django recipe (docs/recipes/django.md), just enough to serve a view."""

from __future__ import annotations

import os

SECRET_KEY = "recipe-not-secret"  # Django's own signing key, nothing to do with oakdata
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "recipe_django.urls"
WSGI_APPLICATION = "recipe_django.wsgi.application"
INSTALLED_APPS = ["recipe_django.analytics"]
MIDDLEWARE = [
    "recipe_django.auth.header_auth",  # a real app: django.contrib.auth's middleware
    "oakdata.integrations.django.OakDataMiddleware",
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# oakdata.integrations.django reads these; None falls back to $OAK_SECRET_KEY and $OAK_HOST.
OAKDATA_SECRET_KEY = os.environ.get("OAK_SECRET_KEY")
OAKDATA_HOST = os.environ.get("OAK_HOST")
OAKDATA_OPTIONS: dict[str, object] = {}
