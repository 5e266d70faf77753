"""What each quarantine reason code means, in the words an admin reads.

The codes are stable (the reader's, the identity resolver's and the
uploader's); a code this table does not know is shown as it is.
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    # The site reader's validation of a record (onprem.site_values).
    "invalid_guid": "An identifier is not a GUID of the expected form.",
    "empty_value": "A value the record needs is empty.",
    "control_character": "A value holds a control character (such as NUL).",
    "too_long": "A value is longer than the tenant can keep.",
    "impossible_date": "A date cannot be true (out of range or in the far future).",
    "wrong_type": "A value has the wrong type for its column.",
    "out_of_range": "A number is outside the range its column allows.",
    # Identity disputes (DESIGN.md section 5): never linked automatically.
    "shared_aad_device_id": "Another live record has the same Entra device id.",
    "shared_smsid": "Another live record has the same SMSID.",
    "shared_serial_model": "Another live record has the same serial number and model.",
    "several_candidates": "Two or more devices the tenant holds could be this one.",
    "contested_candidate": "Another record claims the same device the tenant holds.",
    "unverified_candidate": "The read was incomplete: a candidate may still be live.",
    "candidate_in_dispute": "A retired record of a device that a dispute names.",
    # The tenant refused the record on upload.
    "refused_by_service": "The tenant service refused this record on upload.",
}


def describe(reason: str) -> str:
    """The admin's sentence for `reason`, or the code itself when it is not known."""
    return REASONS.get(reason, reason)
