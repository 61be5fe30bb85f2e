"""readers/ stands alone: no service code, and vendor libraries only when their URL is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

from readers import open_reader
from readers.errors import ReaderUnavailableError

CHECK = """
import sys
import readers, readers.agent
from readers import open_reader
open_reader("sim://").close()
loaded = {name.split(".")[0] for name in sys.modules}
# ndef too: a wedge-only station installs neither pyscard nor nfcpy nor ndeflib.
print(sorted(loaded & {"app", "fastapi", "sqlmodel", "sqlalchemy", "smartcard", "nfc", "ndef",
                       "evdev"}))
"""


def test_readers_import_no_service_and_no_vendor_library() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


class TestMissingLibrary:
    """What open_reader says when a backend cannot import what it needs."""

    def test_vendor_library_names_its_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delitem(sys.modules, "readers.backends.pcsc", raising=False)
        monkeypatch.setitem(sys.modules, "smartcard", None)
        advice = r"\(smartcard\); install mediatrack\[pcsc\]"
        with pytest.raises(ReaderUnavailableError, match=advice):
            open_reader("pcsc://")

    def test_wedge_has_no_extra_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delitem(sys.modules, "readers.backends.wedge", raising=False)
        monkeypatch.setitem(sys.modules, "fcntl", None)
        with pytest.raises(ReaderUnavailableError, match="no extra package") as raised:
            open_reader("wedge://stdin")
        assert "mediatrack[" not in str(raised.value)
