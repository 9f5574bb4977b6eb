"""The HTTP face of forwardpass."""

from forwardpass.server.app import create_app

__all__ = ["create_app"]
