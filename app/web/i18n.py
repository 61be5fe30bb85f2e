"""Languages of the web pages: which one a request gets, its catalog, its dates.

Catalogs are Babel/gettext ``.po`` files under ``translations/<locale>/LC_MESSAGES``; they are
compiled in memory when the app starts, so there is no build step (docs/web.md says how to add
a language). English is the source language: its catalog is the message ids themselves.
The current request's language lives in a context variable, so the gettext callables installed
into Jinja (and :func:`gettext` here, for sentences built in Python) are safe across threads.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from app.core.errors import AppError, Phrase

TRANSLATIONS = Path(__file__).parent / "translations"
DEFAULT_LOCALE = "en"
# Locale code -> the name a person picks it by (in its own language).
LOCALES = {"en": "English", "zh_CN": "简体中文"}
LANG_COOKIE = "mediatrack_lang"

_current: ContextVar[str] = ContextVar("mediatrack_locale", default=DEFAULT_LOCALE)


@cache
def catalog(locale: str) -> NullTranslations:
    """The compiled catalog of a locale (English: the message ids as they are)."""
    po = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    if locale == DEFAULT_LOCALE or not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        parsed = read_po(handle, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, parsed, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The chosen language (cookie), else the browser's first one we have, else English."""
    if cookie in LOCALES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


@contextmanager
def using(locale: str) -> Iterator[None]:
    token = _current.set(locale)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> str:
    return _current.get()


def html_lang() -> str:
    """The ``lang`` attribute of a page (BCP 47: zh-CN, en)."""
    return current().replace("_", "-")


def say(phrase: Phrase) -> str:
    """A sentence the services wrote (see app.core.errors.Phrase) in the page's language."""
    return phrase.render(catalog(current()))


def error_message(exc: AppError) -> str:
    """The sentence of an error a page shows, in its language: the one way a page says one."""
    return exc.translated(catalog(current()))


def gettext(message: str, **variables: object) -> str:
    text = catalog(current()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    text = catalog(current()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def format_date(value: date | None, style: str = "medium") -> str:
    if value is None:
        return ""
    return babel_format_date(value, format=style, locale=Locale.parse(current()))


def format_moment(value: datetime | None) -> str:
    """A moment as staff read it: the month spelled out ("Dec 7, 2026", "2026年12月7日"), as
    a numeric short date leaves 12/7 against 7/12 open, and the time on the 24-hour clock a
    hospital keeps its records in."""
    if value is None:
        return ""
    locale = Locale.parse(current())
    day = format_skeleton("yMMMd", value, locale=locale)
    return f"{day} {format_skeleton('Hm', value, locale=locale)}"
