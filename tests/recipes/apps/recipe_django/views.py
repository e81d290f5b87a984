from __future__ import annotations

import os

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from .analytics.client import made_in_pid, oak


@require_POST
def signup(request: HttpRequest, user_id: str) -> JsonResponse:
    uuid = oak.capture(user_id, "signed_up", {"plan": "free"})
    return JsonResponse({"uuid": uuid, "pid": os.getpid(), "client_made_in": made_in_pid})
