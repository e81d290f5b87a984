from __future__ import annotations

import os

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from oakdata.integrations.django import client

from .analytics.client import made_in_pid


@require_POST
def signup(request: HttpRequest, user_id: str) -> JsonResponse:
    uuid = client().capture(user_id, "signed_up", {"plan": "free"})
    return JsonResponse({"uuid": uuid, "pid": os.getpid(), "client_made_in": made_in_pid})


@require_POST
def upgrade(request: HttpRequest) -> JsonResponse:
    # No id: the middleware's context gives the signed-in user's, and the request's URL.
    uuid = client().capture(event="plan_upgraded", properties={"plan": "pro"})
    return JsonResponse({"uuid": uuid})
