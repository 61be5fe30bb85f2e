"""A message shown once on the next page: post/redirect/get keeps a form from being sent
twice by a reload, and the page it lands on says what was done."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse

FLASH = "flash"


def redirect(request: Request, target: str, message: str) -> RedirectResponse:
    """To ``target`` (a path of this site), which shows ``message`` once."""
    request.session[FLASH] = message
    return RedirectResponse(target, status_code=303)


def take(request: Request) -> str | None:
    """The message waiting to be shown, if any (it is then gone)."""
    message = request.session.pop(FLASH, None)
    return message if isinstance(message, str) else None
