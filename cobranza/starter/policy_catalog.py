"""Loads every dunning policy of a folder, and the segmentation rules that choose among them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import time
from pathlib import Path

import yaml

from cobranza.domain.invoice import Channel, Invoice, local_instant
from cobranza.domain.policy import Policy
from cobranza.domain.policy_file import PolicyFileError, parse_policy
from cobranza.domain.segmentation import PolicyChoice, SegmentRules, choose_policy
from cobranza.domain.segmentation_file import is_segments_document, parse_segments
from cobranza.integrations.messages import has_template

POLICIES_DIR = Path(__file__).resolve().parent.parent / "policies"
SEGMENTS_FILE = POLICIES_DIR / "segments.yaml"
# The ladder a command runs when it is given no policy file.
STANDARD_POLICY = POLICIES_DIR / "standard.yaml"


def policy_catalog(folder: Path = POLICIES_DIR) -> dict[str, Policy]:
    """Every policy YAML of a folder by id; a segmentation file there is skipped, not a policy.

    Raises PolicyFileError listing every fault of every file, and when two files declare the
    same id: a choice must resolve to exactly one ladder.
    """
    if not folder.is_dir():
        raise PolicyFileError(str(folder), [f"{folder}: not a folder of policy files"])
    policies: dict[str, Policy] = {}
    found_in: dict[str, Path] = {}
    problems: list[str] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        text = path.read_text(encoding="utf-8")
        if _is_segments(text):
            continue
        try:
            policy = read_policy_file(path, text)
        except PolicyFileError as exc:
            problems += exc.problems
            continue
        if policy.id in found_in:
            problems.append(
                f"{path}: id: policy {policy.id!r} is also declared in {found_in[policy.id]}"
            )
            continue
        policies[policy.id], found_in[policy.id] = policy, path
    if problems:
        raise PolicyFileError(str(folder), problems)
    if not policies:
        raise PolicyFileError(str(folder), [f"{folder}: no policy file (*.yaml) in this folder"])
    return policies


def read_segments(path: Path, policies: Mapping[str, Policy]) -> SegmentRules:
    """Segmentation rules from a file; every policy they name must be in the catalog."""
    return parse_segments(path.read_text(encoding="utf-8"), str(path), policies=policies.keys())


def read_policy_file(path: Path, text: str | None = None) -> Policy:
    """Parse a policy file and check that every template it names exists for its channel."""
    if text is None:
        text = path.read_text(encoding="utf-8")
    policy = parse_policy(text, str(path))
    missing = [
        f"{path}: {where}: template {name!r} does not exist for {channel}"
        for where, name, channel in _templates_of(policy)
        if not has_template(name, channel)
    ]
    if missing:
        raise PolicyFileError(str(path), missing)
    return policy


def _templates_of(policy: Policy) -> list[tuple[str, str, Channel]]:
    # A step's template must exist for every channel it may fall back to, not only the first.
    found = [
        (f"reminders.{i}.template", r.template, channel)
        for i, r in enumerate(policy.reminders)
        for channel in (r.channel, *r.fallback)
    ]
    found += [
        (f"escalation.{i}.template", e.template, channel)
        for i, e in enumerate(policy.escalation)
        if e.template
        for channel in (e.channel, *e.fallback)
    ]
    if policy.issue_template:
        found.append(("issue_template", policy.issue_template, Channel.EMAIL))
    found.append(("promise_to_pay.template", policy.promise_to_pay.template, Channel.EMAIL))
    return found


def _is_segments(text: str) -> bool:
    try:
        return is_segments_document(yaml.safe_load(text))
    except yaml.YAMLError:
        return False


def segment_chooser(
    segments: Path = SEGMENTS_FILE, folder: Path | None = None
) -> Callable[[Invoice], tuple[Policy, PolicyChoice]]:
    """Each invoice's policy by the segmentation rules, decided as of its issue date."""
    catalog = policy_catalog(folder or segments.parent)
    rules = read_segments(segments, catalog)

    def choose(invoice: Invoice) -> tuple[Policy, PolicyChoice]:
        at = local_instant(invoice.issued_on, time(0, 0), invoice.customer.timezone)
        choice = choose_policy(rules, invoice, at)
        return catalog[choice.policy_id], choice

    return choose
