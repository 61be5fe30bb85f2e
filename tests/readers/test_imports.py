"""readers/ stands alone: no service code, and vendor libraries only when their URL is used."""

from __future__ import annotations

import subprocess
import sys

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
