"""Which PACS to ask, from the environment (prefix MEDIATRACK_PACS_). One or both protocols."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.pacs.clients import DEFAULT_CALLING_AET, CFindClient, PacsClient, QidoClient


class PacsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIATRACK_PACS_", extra="ignore")

    # DICOMweb base URL, e.g. http://pacs:8042/dicom-web
    QIDO_URL: str = ""
    # DIMSE C-FIND peer: host, port and its AE title; ours is CALLING_AET.
    DIMSE_HOST: str = ""
    DIMSE_PORT: int = Field(default=104, ge=1, le=65535)
    DIMSE_AET: str = Field(default="", max_length=16)
    CALLING_AET: str = Field(default=DEFAULT_CALLING_AET, min_length=1, max_length=16)
    TIMEOUT_S: float = Field(default=10.0, gt=0, le=300)

    def clients(self) -> dict[str, PacsClient]:
        """The configured clients by protocol name ("qido", "cfind")."""
        out: dict[str, PacsClient] = {}
        if self.QIDO_URL:
            out["qido"] = QidoClient(self.QIDO_URL, timeout=self.TIMEOUT_S)
        if self.DIMSE_HOST and self.DIMSE_AET:
            out["cfind"] = CFindClient(
                host=self.DIMSE_HOST,
                port=self.DIMSE_PORT,
                called_aet=self.DIMSE_AET,
                calling_aet=self.CALLING_AET,
                timeout=self.TIMEOUT_S,
            )
        return out
