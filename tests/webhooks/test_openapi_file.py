"""The OpenAPI document in the repo is the one built from the validating models."""

from webhooks.openapi import OPENAPI_FILE, render


def test_committed_openapi_document_is_current() -> None:
    assert OPENAPI_FILE.read_text() == render(), "run: python -m webhooks.openapi"
