"""Requests for a study's carrier: a clinician asks, a clerk pulls it from its shelf and lends
it to them. A request for a carrier that is out (lent or in transit) waits, queued, until the
carrier is back."""
