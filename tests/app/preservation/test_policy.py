"""Retention and verification rules (no database)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from app.preservation.policy import (
    PreservationPolicy,
    add_years,
    retention_until,
    verification_reasons,
)

TODAY = date(2026, 11, 28)


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> PreservationPolicy:
    for name in ("RETENTION_OUTPATIENT_YEARS", "TAPE_DRIVES", "VERIFY_OPTICAL_YEARS"):
        monkeypatch.delenv(f"MEDIATRACK_{name}", raising=False)
    return PreservationPolicy()


class TestRetention:
    def test_defaults_follow_the_chinese_rules(self, policy: PreservationPolicy) -> None:
        day = date(2020, 5, 1)
        assert retention_until([(day, "outpatient")], policy) == date(2035, 5, 1)
        assert retention_until([(day, "inpatient")], policy) == date(2050, 5, 1)
        assert retention_until([(day, None)], policy) == date(2050, 5, 1)

    def test_the_latest_end_wins_and_undated_studies_are_skipped(
        self, policy: PreservationPolicy
    ) -> None:
        studies = [(date(2001, 1, 1), "inpatient"), (date(2020, 1, 1), "outpatient"), (None, None)]
        assert retention_until(studies, policy) == date(2035, 1, 1)
        assert retention_until([(None, "inpatient")], policy) is None
        assert retention_until([], policy) is None

    def test_configurable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MEDIATRACK_RETENTION_OUTPATIENT_YEARS", "20")
        assert retention_until([(date(2020, 1, 1), "outpatient")], PreservationPolicy()) == date(
            2040, 1, 1
        )

    def test_leap_day(self) -> None:
        assert add_years(date(2024, 2, 29), 15) == date(2039, 3, 1)


class TestVerificationReasons:
    def reasons(
        self, policy: PreservationPolicy, kind: str, last: date | None, returned: bool = False
    ) -> list[str]:
        return verification_reasons(
            kind=kind, last_verified=last, returned_since=returned, today=TODAY, policy=policy
        )

    def test_never_verified_and_returned(self, policy: PreservationPolicy) -> None:
        assert self.reasons(policy, "DVD", None) == [
            "never verified since it was written or imported"
        ]
        assert len(self.reasons(policy, "DVD", date(2026, 1, 1), returned=True)) == 1
        assert self.reasons(policy, "DVD", date(2026, 1, 1)) == []

    def test_optical_every_three_years(self, policy: PreservationPolicy) -> None:
        assert self.reasons(policy, "BD", date(2023, 11, 29)) == []
        assert self.reasons(policy, "M-DISC", date(2023, 11, 28)) == [
            "last verified 2023-11-28, more than 3 years ago"
        ]

    def test_tape_before_its_last_drive_retires(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MEDIATRACK_TAPE_DRIVES", "LTO-8=2027-06-30,LTO-9=")
        policy = PreservationPolicy()
        # LTO-7 tapes are read by LTO-8 drives only (among those in service), retiring soon.
        assert self.reasons(policy, "LTO-7", date(2026, 1, 1)) == [
            "the last drive that reads LTO-7 goes out of service on 2027-06-30"
        ]
        # LTO-8 tapes are also read by LTO-9 drives, with no retirement planned.
        assert self.reasons(policy, "LTO-8", date(2026, 1, 1)) == []
        assert self.reasons(policy, "LTO-6", date(2026, 1, 1)) == [
            "no drive in service reads LTO-6: migrate it"
        ]
        # Tape ages are not the rule: a ten-year-old verification alone is not due.
        assert self.reasons(policy, "LTO-9", date(2016, 1, 1)) == []

    def test_bad_drive_configuration(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MEDIATRACK_TAPE_DRIVES", "LTO-42=2030-01-01")
        with pytest.raises(ValidationError, match="not an LTO drive generation"):
            PreservationPolicy()
