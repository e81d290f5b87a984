"""The process's one OakClient. Import `oak` from here wherever you capture."""

from __future__ import annotations

import os

from django.conf import settings

from oakdata import OakClient

oak = OakClient(
    settings.OAKDATA_SECRET_KEY, host=settings.OAKDATA_HOST, **settings.OAKDATA_OPTIONS
)
made_in_pid = os.getpid()  # for the tests: where the client was made
