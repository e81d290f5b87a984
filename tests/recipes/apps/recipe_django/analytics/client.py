"""The process's one OakClient, made by the oakdata integration from settings."""

from __future__ import annotations

import os

from oakdata.integrations.django import client

oak = client()
made_in_pid = os.getpid()  # for the tests: where the client was made
