"""Browser fixtures (tests/support/browser.py) and the real PC/SC stack for the desk tests."""

from tests.readers.conftest import pcsc, pcsc_stack, place  # noqa: F401
from tests.support.browser import browser, demo_archive, new_page, site  # noqa: F401
