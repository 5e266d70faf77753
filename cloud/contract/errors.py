"""The JSON error body every failed API call returns, and its stable codes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Stable codes: clients branch on these, never on messages.
ERROR_CODES: dict[str, int] = {
    "bad_request": 400,
    "invalid_body": 400,
    "invalid_query": 400,
    "malformed_csr": 400,
    "weak_key": 400,
    "unsupported_key": 400,
    "bad_signature": 400,
    "ca_requested": 400,
    "weak_signature": 400,
    "unauthenticated": 401,
    "invalid_token": 401,
    "token_expired": 401,
    "certificate_required": 401,
    "certificate_rejected": 401,
    "certificate_revoked": 401,
    "forbidden": 403,
    "wrong_hierarchy": 403,
    "attach_code_invalid": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "batch_conflict": 409,
    "hierarchy_detached": 409,
    "nothing_held": 409,
    # Device actions (cloud.contract.actions).
    "device_not_actionable": 409,
    "script_retired": 409,
    "action_not_cancellable": 409,
    "action_finished": 409,
    "action_result_conflict": 409,
    "idempotency_conflict": 409,
    "bulk_cap_exceeded": 409,
    "bulk_confirmation_mismatch": 409,
    "script_hash_mismatch": 400,
    # The connector's audit log upload (cloud.contract.connector_audit).
    "audit_chain_gap": 409,
    "audit_chain_conflict": 409,
    "audit_chain_superseded": 409,
    "audit_signer_missing": 409,
    # Rollout orders (cloud.contract.rollouts).
    "rollout_result_conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "internal_error": 500,
    "unavailable": 503,
}


class ErrorDetail(BaseModel):
    """What went wrong, for programs (`code`) and for people (`message`)."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    target: str | None = None
    details: list[dict[str, str]] | None = None


class ErrorBody(BaseModel):
    """The body of every error response: `{"error": {...}}`, as Graph does."""

    model_config = ConfigDict(frozen=True)

    error: ErrorDetail
