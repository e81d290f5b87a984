"""Transports: the seam between the client and the network."""

from .base import AsyncTransport, NetworkError, Request, Response, Transport

__all__ = ["AsyncTransport", "NetworkError", "Request", "Response", "Transport"]
