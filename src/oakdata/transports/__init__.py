"""Transports: the seam between the client and the network."""

from .base import NetworkError, Request, Response, Transport

__all__ = ["NetworkError", "Request", "Response", "Transport"]
