"""Governed operations: each checked by the policy, priced, audited, in one transaction."""

from .base import (
    Conflict,
    Forbidden,
    Idempotency,
    IdempotencyMismatch,
    Invalid,
    NotFound,
    OperationContext,
    OperationError,
    Result,
    breakdown,
)

__all__ = [
    "Conflict",
    "Forbidden",
    "Idempotency",
    "IdempotencyMismatch",
    "Invalid",
    "NotFound",
    "OperationContext",
    "OperationError",
    "Result",
    "breakdown",
]
