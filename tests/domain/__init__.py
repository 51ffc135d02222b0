"""Tests of the pure domain: compliance calendars, policies, lifecycle and the contact gate."""
