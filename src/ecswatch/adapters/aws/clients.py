"""boto3 clients, one per (service, region), created on first use and kept for the container's life.

Creating clients lazily keeps cold start small (no client for a service the
event does not need) and lets tests install moto before the first client.
Endpoint and credentials follow the usual AWS conventions (AWS_PROFILE,
AWS_ENDPOINT_URL, ...), which is also how the offline demo points at moto.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)


class ClientCache:
    def __init__(self, session: boto3.Session | None = None) -> None:
        self._session = session
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, service: str, region: str | None = None) -> Any:
        key = (service, region or "")
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                # One session for all clients: botocore's loaders and endpoint data are read once,
                # so the second client of a cold start costs a fraction of the first.
                if self._session is None:
                    self._session = boto3.session.Session()
                session = self._session
                client = session.client(service, region_name=region or None, config=_CONFIG)  # type: ignore[call-overload]
                self._clients[key] = client
            return client

    def __len__(self) -> int:
        return len(self._clients)

    def lazy(self, service: str, region: str | None = None) -> Any:
        """A stand-in that creates the client on first use: adapters built at cold start for paths an
        event may never take (retries, state) then cost nothing until they are needed."""
        return _LazyClient(self, service, region)


class _LazyClient:
    def __init__(self, cache: ClientCache, service: str, region: str | None) -> None:
        self._cache = cache
        self._service = service
        self._region = region

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache.get(self._service, self._region), name)
