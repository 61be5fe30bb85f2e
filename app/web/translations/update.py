"""Refresh the catalogs from the templates and code: ``python -m app.web.translations.update``.

Extracts every message (pybabel's extractors, with ``N_`` as a marker), merges it into each
language's ``messages.po`` (new messages untranslated, removed ones dropped), and writes the
files back. Translate the new entries in the ``.po`` file; tests fail while one is missing.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

WEB = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extracted() -> Catalog:
    template = Catalog(project="MediaTrack")
    for _file, _line, message, _comments, _context in extract_from_dir(
        WEB, METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        template.add(message)
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
        print(f"{po.relative_to(WEB)}: {len(catalog)} messages")


if __name__ == "__main__":
    main()
