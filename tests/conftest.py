"""Settings for the whole suite."""

from __future__ import annotations

from hypothesis import settings

# Property tests are judged on what they find, never on how fast a shared, loaded machine runs
# them (a per-example deadline made them fail under load), and they draw the same examples on
# every run so a result is reproducible.
settings.register_profile("cobranza", deadline=None, derandomize=True)
settings.load_profile("cobranza")
