"""Tests of the store and the reports built from it."""
