"""Refresh the catalogs from the templates and code: ``python -m app.web.translations.update``.

Extracts every message of the ``app`` package (pybabel's extractors, with ``N_`` as a marker
and every error class as a keyword: ``NotFoundError("There is no station named {name}.",
name=name)`` puts its template in the catalog), merges it into each language's
``messages.po`` (new messages untranslated, removed ones dropped), and writes the files back.
Translate the new entries in the ``.po`` file; tests fail while one is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

APP = Path(__file__).resolve().parents[2]
WEB = APP / "web"
HERE = Path(__file__).resolve().parent
METHODS = [("alembic/**", "ignore"), ("web/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
# The raising of an error is its marking: the first argument of each AppError class (and of a
# Phrase, the part of a sentence that is translated on its own) is a template of the catalog.
# tests/app/web/test_pages.py checks this list names every AppError subclass.
ERRORS = (
    "AppError", "UnauthorizedError", "ForbiddenError", "NotFoundError", "ConflictError",
    "InvalidInputError", "TooManyRequestsError", "PacsUnavailableError", "BackupError",
    "LoginRequired", "CsrfError",
)
KEYWORDS: dict[str, Any] = {
    "_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "NC_": ((1, "c"), 2),
    "Phrase": None,
    **dict.fromkeys(ERRORS),
}


def extracted() -> Catalog:
    template = Catalog(project="MediaTrack")
    for _file, _line, message, _comments, context in extract_from_dir(
        APP, METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        template.add(message, context=context)
    return template


def main() -> None:
    template = extracted()
    for po in sorted(HERE.glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parts[-3])
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with po.open("wb") as handle:
            write_po(handle, catalog, omit_header=False, no_location=True, width=100)
        print(f"{po.relative_to(APP)}: {len(catalog)} messages")


if __name__ == "__main__":
    main()
