"""Two things the official `ollama` client does not offer, done through its own HTTP session.

`Client._client` is the client's private httpx session: same host resolution, headers and
authorisation as every public call, which is why it is used instead of a second session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ollama


def base_url(client: ollama.Client) -> str:
    """The server the client talks to, as it resolved OLLAMA_HOST (a bare `0.0.0.0` means :11434).

    Public replacement: a `Client.host` / `base_url` property.
    """
    return str(client._client.base_url)


def blob_status(client: ollama.Client, digest: str) -> int:
    """HTTP status of HEAD /api/blobs/:digest: 200 when the server has the blob, 404 when not.

    Public replacement: a `Client.blob_exists(digest)` call.
    """
    return client._client.head(f"/api/blobs/{digest}").status_code
