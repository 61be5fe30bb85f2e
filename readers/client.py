"""The station's side of the service's HTTP API (the only contract between readers and app)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from readers.base import TagType, Technology

# Answers that refuse the body itself, not the station or the moment: sent again unchanged, it
# gets the same answer (RFC 9110 15.5.1 400, RFC 9110 15.5.21 422). Not 404 (a wrong server
# URL) nor 409 (a state that may change): those are retried like an outage.
CONTENT_REFUSED = frozenset({400, 422})


class ServiceError(Exception):
    """The service answered with an error, or could not be reached (``status`` 0)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code  # the service's own "error" value, when the answer was one
        # Seconds the server asked to wait before sending again (429, 503): its Retry-After.
        self.retry_after = retry_after

    @property
    def unreachable(self) -> bool:
        return self.status == 0

    @property
    def content_refused(self) -> bool:
        """The service itself refused this body as invalid: retrying it cannot help. A 400 of a
        proxy in the way (plain HTML) is not that, nor is a refusal without the service's code."""
        return self.status in CONTENT_REFUSED and self.code == "invalid_input"

    def describe(self) -> str:
        """What the operator reads: "unreachable" and "refused" are different troubles."""
        if self.unreachable:
            return f"server unreachable: {self.message}"
        if 200 <= self.status < 300:
            return f"server answer not understood: {self.message}"
        if self.status >= 500:
            return f"server error (HTTP {self.status}): {self.message}"
        return f"server refused (HTTP {self.status}): {self.message}"


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delay-seconds or an HTTP date (RFC 9110 10.2.3); None when
    absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True, slots=True)
class LabelJob:
    """A label the service asks this station to write: ``message`` (NDEF, signed by the
    service) goes on the tag with UID ``tag_uid``, carrier ``label``'s."""

    id: int
    tag_uid: str
    label: str
    message: bytes


class ServiceClient:
    """Calls the MediaTrack service with a station API key."""

    def __init__(
        self,
        server: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.server}/api/v1",
            headers={"X-API-Key": api_key},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            reason = type(exc).__name__
            raise ServiceError(
                0, f"The MediaTrack server at {self.server} cannot be reached ({reason})."
            ) from exc
        if response.is_success:
            try:
                return response.json()
            except ValueError as exc:
                raise ServiceError(response.status_code, self._not_understood) from exc
        try:
            body = response.json()
            detail = str(body.get("detail", ""))
            code = str(body["error"]) if "error" in body else None
        except (ValueError, AttributeError):
            detail, code = "", None
        if response.status_code == 401:
            detail = "The station's API key was refused (wrong or revoked); ask an administrator."
        raise ServiceError(
            response.status_code,
            detail or f"The server answered HTTP {response.status_code}.",
            code,
            _retry_after(response.headers.get("Retry-After")),
        )

    @property
    def _not_understood(self) -> str:
        return f"The server at {self.server} gave an answer this station does not understand."

    def post_scans(self, reads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST /scans; the results, one per read, in order."""
        answer = self._call("POST", "/scans", {"reads": reads})
        try:
            results: list[dict[str, Any]] = answer["results"]
            if not all(isinstance(r, dict) and "event_id" in r for r in results):
                raise TypeError("results")
        except (KeyError, TypeError) as exc:
            raise ServiceError(200, self._not_understood) from exc
        return results

    def post_inventory_reads(
        self, campaign_id: int, reads: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """POST /inventory/campaigns/{id}/reads; the answer (``ReadResults``): ``results``,
        one per read, in order, and ``shelf``, the sweep's shelf after the batch, or None."""
        answer = self._call("POST", f"/inventory/campaigns/{campaign_id}/reads", {"reads": reads})
        try:
            results = answer["results"]
            shelf = answer.get("shelf")
            if not all(isinstance(r, dict) and {"event_id", "class"} <= r.keys()
                       for r in results) or not isinstance(shelf, dict | None):
                raise TypeError("results")
        except (KeyError, TypeError, AttributeError) as exc:
            raise ServiceError(200, self._not_understood) from exc
        return dict(answer)

    def own_station(self) -> dict[str, Any]:
        """GET /stations/me: this station as the service knows it."""
        answer = self._call("GET", "/stations/me")
        if not isinstance(answer, dict) or not {"name", "last_seq"} <= answer.keys():
            raise ServiceError(200, self._not_understood)
        return answer

    def last_station_seq(self) -> int:
        """The last sequence number the service received from this station."""
        try:
            return int(self.own_station()["last_seq"])
        except (TypeError, ValueError) as exc:
            raise ServiceError(200, self._not_understood) from exc

    def get_carrier(self, label: str) -> dict[str, Any]:
        carrier: dict[str, Any] = self._call("GET", f"/carriers/{label}")
        return carrier

    def bind_tag(
        self, label: str, uid: str, technology: Technology, tag_type: TagType | None
    ) -> dict[str, Any]:
        body = {"tag_uid": uid, "technology": str(technology),
                "tag_type": str(tag_type) if tag_type else None}
        carrier: dict[str, Any] = self._call("POST", f"/carriers/{label}/tag", body)
        return carrier

    def label_jobs(self) -> list[LabelJob]:
        """GET /tags/label-jobs: the labels this station is asked to write."""
        answer = self._call("GET", "/tags/label-jobs")
        try:
            return [LabelJob(int(j["id"]), str(j["tag_uid"]), str(j["label"]),
                             bytes.fromhex(j["ndef"])) for j in answer["data"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ServiceError(200, self._not_understood) from exc

    def settle_label_job(self, job_id: int, *, written: bool, reason: str | None = None) -> None:
        """Tell the service whether the tag kept the label (and if not, why)."""
        self._call("POST", f"/tags/label-jobs/{job_id}",
                   {"written": written, "reason": reason[:200] if reason else None})
