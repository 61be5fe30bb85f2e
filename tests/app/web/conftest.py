"""The browser fixtures (tests/support/browser.py) and the PC/SC stack come from the root
conftest: each must exist once per run (one Playwright, one pcscd)."""
