"""Browser fixtures (tests/support/browser.py); the PC/SC stack comes from the root conftest."""

from tests.support.browser import browser, demo_archive, new_page, site  # noqa: F401
