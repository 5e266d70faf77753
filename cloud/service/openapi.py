"""The OpenAPI 3.1 document, built from the route declarations."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from cloud.contract.errors import ErrorBody
from cloud.service.api import Endpoint

_PARAM = re.compile(r"\{(\w+)\}")

_SECURITY = {
    "admin": [{"bearer": []}],
    "connector": [{"clientCertificate": []}],
    "device": [{"deviceSecret": []}],
    "enroll": [],
    "public": [],
}


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    return [
        {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", []),
            "schema": prop,
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(endpoint: Endpoint, components: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "tags": list(endpoint.tags),
        "security": _SECURITY[endpoint.auth],
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in _PARAM.findall(endpoint.path)
        ],
        "responses": {},
    }
    if endpoint.role is not None:
        operation["description"] = f"Requires the {endpoint.role.value} role or higher."
    if endpoint.listener == "connector":
        operation["description"] = "Served on the connector listener (mutual TLS)."
    if endpoint.query is not None:
        operation["parameters"] += _query_parameters(endpoint.query)
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(endpoint.body, components)}},
        }
    ok: dict[str, Any] = {"description": "Success"}
    if endpoint.response is not None:
        ref = _schema(endpoint.response, components)
        body = (
            {"type": "object", "properties": {"value": {"type": "array", "items": ref}}}
            if endpoint.list_response
            else ref
        )
        ok["content"] = {"application/json": {"schema": body}}
    elif endpoint.produces != "application/json":
        ok["content"] = {endpoint.produces: {"schema": {"type": "string"}}}
    elif endpoint.status != 204:
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    status = str(endpoint.status)
    operation["responses"][status] = ok
    error = {"content": {"application/json": {"schema": _schema(ErrorBody, components)}}}
    operation["responses"]["default"] = {
        "description": "Error (stable code in error.code)",
        **error,
    }
    return operation


def openapi_document(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    """The OpenAPI document describing exactly `endpoints`."""
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in sorted(endpoints, key=lambda e: (e.path, e.method)):
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(
            endpoint, components
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cobridge cloud tenant service",
            "version": version,
            "description": "Tenant attach, inventory and co-management API. Errors are JSON "
            '`{"error": {"code", "message"}}` with stable codes.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "clientCertificate": {"type": "mutualTLS"},
                "deviceSecret": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a device's check-in secret (cbd_...), issued by an operator",
                },
            },
        },
    }
