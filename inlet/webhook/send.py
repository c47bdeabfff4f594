"""One webhook request: the event signed as it is sent, POSTed, and the outcome in a word.

Shared by `inlet up`'s deliverer (inlet.webhook.delivery) and the webhook function on AWS
(functions/webhook), so a receiver sees the same body, headers and signature from both.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from inlet.events import Event, to_json
from inlet.webhook.signature import sign

TIMEOUT_SECONDS = 10.0
USER_AGENT = "inlet-webhook/1"

# (url, body, headers, timeout) → HTTP status; raises OSError or HTTPException without one.
Post = Callable[[str, bytes, Mapping[str, str], float], int]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not a delivery: the receiver's answer is the 3xx itself."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    # The settings accept only http(s) URLs (inlet.settings), so no file: or custom scheme.
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(1 << 16)  # let the connection finish cleanly; the body is not used
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def host_of(url: str) -> str:
    """What logs may name of the URL: host and port, never a path, query or user info (any of
    them may carry a token)."""
    return urllib.parse.urlsplit(url).netloc.rpartition("@")[2]


def request_of(event: Event, secret: str, now: int) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery of `event` at unix time `now`."""
    body = to_json(event).encode()
    return body, {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Inlet-Event-Id": event["detail"]["event_id"],
        "Inlet-Signature": sign(secret, body, now),
    }


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int  # the HTTP status; 0 without an answer
    error: str | None  # None: delivered (a 2xx)


def attempt(
    url: str,
    secret: str,
    event: Event,
    *,
    now: int,
    timeout: float = TIMEOUT_SECONDS,
    send: Post = post,
) -> Outcome:
    """POST `event` once. A 2xx is delivered; any other status, a timeout or no connection is
    an error to retry, described without the URL."""
    body, headers = request_of(event, secret, now)
    try:
        status = send(url, body, headers, timeout)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(0, reason(exc, timeout))
    return Outcome(status, None if 200 <= status < 300 else f"HTTP {status}")


def reason(exc: BaseException, timeout: float) -> str:
    """Why a request got no answer, without the URL (it may carry a token)."""
    cause: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause) if isinstance(cause, str) else type(cause).__name__
