"""The OpenAPI 3.1 document of every endpoint; `python -m oakdata_server.openapi` prints it.

Written by hand rather than derived from the code: the protocol document is the contract, and
this is its machine-readable twin. tests/server keep docs/openapi.json equal to what is served.
"""

from __future__ import annotations

import json
from typing import Any

from oakdata_server.validation import MAX_GROUPS, MAX_ID_CHARS

_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}
_UUID = {"type": "string", "format": "uuid", "example": "0193c7a2-5b1e-7c3d-9a4f-2e8b6d1c0f3a"}
_TIME = {"type": "string", "format": "date-time", "example": "2026-11-28T21:31:24.123456Z"}
_OBJECT = {"type": "object", "additionalProperties": True}


def _message(kind: str, fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "uuid", "timestamp", *required],
        "properties": {
            "type": {"const": kind},
            "uuid": _UUID,
            "timestamp": _TIME,
            **fields,
        },
    }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(description: str, schema_name: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
        },
    }


_PAGE_PARAMETERS: list[dict[str, Any]] = [
    {"name": "project", "in": "query", "schema": {"type": "string", "default": "default"}},
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string"},
        "description": "next_cursor of the previous page",
    },
]

_READ_ERRORS = {
    "400": _error("A bad limit or cursor"),
    "401": _error("Missing or wrong admin token, or reading disabled"),
    "404": _error("Unknown project, person or group"),
    "503": _error("The database is busy"),
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OakData ingest server",
            "version": "1",
            "description": "Wire protocol v1.1 (docs/protocol.md) and the admin reading API.",
        },
        "paths": {
            "/api/oak/ingest": {
                "post": {
                    "operationId": "ingest",
                    "summary": "Send a batch of messages",
                    # Either: a public key may also come as ?key= or as the envelope's
                    # api_key (protocol 1.1), which OpenAPI cannot express as a scheme.
                    "security": [{"ingestKey": []}, {"publicKeyQuery": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Envelope"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json("Stored; invalid messages listed by index", "IngestResult"),
                        "400": _error("Not JSON, bad gzip or unsupported encoding"),
                        "401": _error("Missing, unknown or revoked key"),
                        "403": _error(
                            "Origin not allowed, group_identify with a public key, or a key"
                            " that is not public in the query or the envelope"
                        ),
                        "413": _error("Body, decompressed body or batch too large"),
                        "422": _error("JSON but not a valid envelope"),
                        "408": _error("The headers or body were not sent in time"),
                        "429": _error("Rate limited; see Retry-After"),
                        "503": _error("The database is busy, or too many open connections"),
                    },
                },
                "options": {
                    "operationId": "ingestPreflight",
                    "summary": "CORS preflight for browsers using a public key",
                    "responses": {
                        "204": {"description": "The origin is registered with a public key"},
                        "403": _error("The origin is not registered"),
                    },
                },
            },
            "/api/oak/persons/{distinct_id}/timeline": {
                "get": {
                    "operationId": "personTimeline",
                    "summary": "Every event of the person behind a distinct id, in time order",
                    "security": [{"adminToken": []}],
                    "parameters": [
                        {"name": "distinct_id", "in": "path", "required": True, "schema": _ID},
                        *_PAGE_PARAMETERS,
                    ],
                    "responses": {"200": _json("One page", "Timeline"), **_READ_ERRORS},
                }
            },
            "/api/oak/persons/timeline": {
                "get": {
                    "operationId": "personTimelineByQuery",
                    "summary": "The same timeline, the id in the query: reaches ids holding '/'",
                    "security": [{"adminToken": []}],
                    "parameters": [
                        {"name": "distinct_id", "in": "query", "required": True, "schema": _ID},
                        *_PAGE_PARAMETERS,
                    ],
                    "responses": {"200": _json("One page", "Timeline"), **_READ_ERRORS},
                }
            },
            "/api/oak/groups/{group_type}/{group_key}": {
                "get": {
                    "operationId": "group",
                    "summary": "A group's properties and the events tagged with it",
                    "security": [{"adminToken": []}],
                    "parameters": [
                        {"name": "group_type", "in": "path", "required": True, "schema": _ID},
                        {"name": "group_key", "in": "path", "required": True, "schema": _ID},
                        *_PAGE_PARAMETERS,
                    ],
                    "responses": {"200": _json("One page", "Group"), **_READ_ERRORS},
                }
            },
            "/api/oak/health": {
                "get": {
                    "operationId": "health",
                    "summary": "For load balancers: the process answers; no key, no data",
                    "responses": {"200": {"description": '{"status": "ok"}'}},
                }
            },
            "/api/oak/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1 document"}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "ingestKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "oak_sec_... or oak_pub_... (public keys need an Origin)",
                },
                "publicKeyQuery": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "key",
                    "description": "oak_pub_... only, with an Origin (protocol 1.1)",
                },
                "adminToken": {"type": "http", "scheme": "bearer"},
            },
            "schemas": _schemas(),
        },
    }


def _schemas() -> dict[str, Any]:
    groups = {
        "type": "object",
        "maxProperties": MAX_GROUPS,
        "additionalProperties": _ID,
        "propertyNames": _ID,
    }
    event = {
        "type": "object",
        "properties": {
            "uuid": _UUID,
            "event": _ID,
            "distinct_id": _ID,
            "timestamp": _TIME,
            "client_timestamp": _TIME,
            "received_at": _TIME,
            "properties": _OBJECT,
            "groups": groups,
        },
    }
    cursor = {"type": ["string", "null"]}
    return {
        "Envelope": {
            "type": "object",
            "required": ["batch"],
            "properties": {
                "batch": {
                    "type": "array",
                    "maxItems": 1000,
                    "items": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/Capture"},
                            {"$ref": "#/components/schemas/Identify"},
                            {"$ref": "#/components/schemas/Alias"},
                            {"$ref": "#/components/schemas/GroupIdentify"},
                        ]
                    },
                },
                "api_key": {
                    "type": "string",
                    "description": "A public key, when there is no Authorization (1.1)",
                },
                "sent_at": _TIME,
            },
        },
        "Capture": _message(
            "capture",
            {"distinct_id": _ID, "event": _ID, "properties": _OBJECT, "groups": groups},
            ["distinct_id", "event"],
        ),
        "Identify": _message(
            "identify", {"distinct_id": _ID, "properties": _OBJECT}, ["distinct_id"]
        ),
        "Alias": _message("alias", {"distinct_id": _ID, "alias": _ID}, ["distinct_id", "alias"]),
        "GroupIdentify": _message(
            "group_identify",
            {"group_type": _ID, "group_key": _ID, "properties": _OBJECT},
            ["group_type", "group_key"],
        ),
        "IngestResult": {
            "type": "object",
            "required": ["accepted", "duplicates", "rejected"],
            "properties": {
                "accepted": {"type": "integer", "minimum": 0},
                "duplicates": {"type": "integer", "minimum": 0},
                "rejected": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["index", "reason"],
                        "properties": {
                            "index": {"type": "integer", "minimum": 0},
                            "reason": {"type": "string"},
                        },
                    },
                },
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        },
        "Timeline": {
            "type": "object",
            "properties": {
                "project": {"type": "string"},
                "distinct_id": _ID,
                "distinct_ids": {
                    "type": "array",
                    "items": _ID,
                    "maxItems": 100,
                    "description": "the person's first 100 ids, sorted",
                },
                "distinct_id_count": {"type": "integer", "minimum": 1},
                "properties": _OBJECT,
                "events": {"type": "array", "items": event},
                "next_cursor": cursor,
            },
        },
        "Group": {
            "type": "object",
            "properties": {
                "project": {"type": "string"},
                "group_type": _ID,
                "group_key": _ID,
                "properties": _OBJECT,
                "events": {"type": "array", "items": event},
                "next_cursor": cursor,
            },
        },
    }


def openapi_json() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(openapi_json(), end="")
