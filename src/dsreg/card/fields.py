"""The parts of a card people write: Hub header fields, the description, and `x-` fields.

They live in commit metadata under "card" and carry over to later commits (a commit
copies its parent's metadata), so setting them is a metadata-only commit: no rows move.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from dsreg.errors import BadCardValue, CardFieldsNeedBranch, UnknownCardField, UnknownDataset
from dsreg.model.objects import get_commit

if TYPE_CHECKING:
    from dsreg.registry import Registry

# Hub header fields that hold lists (a value is split on commas) and single strings.
LIST_FIELDS = ("language", "language_details", "annotations_creators", "language_creators", "multilinguality",
               "source_datasets", "task_categories", "task_ids", "tags")
TEXT_FIELDS = ("pretty_name", "license_name", "license_link", "license_details", "paperswithcode_id")
BODY_FIELDS = ("description",)
KNOWN_FIELDS = tuple(sorted(LIST_FIELDS + TEXT_FIELDS + BODY_FIELDS + ("license",)))
COMPUTED_FIELDS = ("size_categories", "dataset_info", "configs")

_VOCABULARY = {
    "annotations_creators": ("found", "crowdsourced", "expert-generated", "machine-generated", "no-annotation",
                             "other"),
    "language_creators": ("found", "crowdsourced", "expert-generated", "machine-generated", "other"),
    "multilinguality": ("monolingual", "multilingual", "translation", "other"),
}
_SLUG = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_LICENSE = re.compile(r"[a-z0-9][a-z0-9.+\-]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]+)*|code|multilingual")
_EXTRA = re.compile(r"x-[A-Za-z0-9_.-]+")


def validate(key: str, raw: str) -> Any:
    """The stored value of a field set to `raw` (None: unset), or an error saying what is wrong."""
    if key in COMPUTED_FIELDS:
        raise BadCardValue(f"card field {key!r} is computed from the data and cannot be set")
    if key not in KNOWN_FIELDS and not _EXTRA.fullmatch(key):
        raise UnknownCardField(key, KNOWN_FIELDS)
    if not raw.strip():
        return None
    if key in BODY_FIELDS or key.startswith("x-"):
        return raw.strip("\n") if "\n" in raw.strip("\n") else raw.strip()
    if key == "license":
        values = _items(raw)
        for v in values:
            if not _LICENSE.fullmatch(v):
                raise BadCardValue(f"license {v!r} is not a Hub license id",
                                   "use ids like apache-2.0, cc-by-4.0, mit, other")
        return values[0] if len(values) == 1 else values
    if key in TEXT_FIELDS:
        value = raw.strip()
        if "\n" in value:
            raise BadCardValue(f"card field {key!r} must be one line")
        return value
    values = _items(raw)
    allowed = _VOCABULARY.get(key)
    for v in values:
        if allowed is not None and v not in allowed:
            raise BadCardValue(f"{key} {v!r} is not one of {', '.join(allowed)}")
        if key in ("language", "language_details") and not _LANGUAGE.fullmatch(v):
            raise BadCardValue(f"language {v!r} is not a language code", "use ISO 639 codes like en, fr, de")
        if key in ("task_categories", "task_ids") and not _SLUG.fullmatch(v):
            raise BadCardValue(f"{key} {v!r} is not a Hub task id", "use ids like text-classification")
    return values


def _items(raw: str) -> list[str]:
    values = [v.strip() for v in raw.replace("\n", ",").split(",")]
    values = [v for v in values if v]
    if not values:
        raise BadCardValue(f"no value in {raw!r}")
    return values


def card_fields(metadata: dict) -> dict[str, Any]:
    fields = metadata.get("card") if isinstance(metadata, dict) else None
    return dict(fields) if isinstance(fields, dict) else {}


def set_fields(reg: Registry, spec: str, values: dict[str, Any], message: str | None = None):
    """Record card fields on branch NAME (or NAME@BRANCH) as a commit that moves no rows."""
    from dsreg.model.revisions import split_spec
    dataset, rev, back = split_spec(spec)
    if not reg.manifest.has_dataset(dataset):
        raise UnknownDataset(dataset)
    head = reg.manifest.ref(dataset, "branch", rev)
    if back or head is None:
        raise CardFieldsNeedBranch(spec, dataset)
    before = card_fields(get_commit(reg, head).metadata)
    fields = dict(before)
    for key, value in values.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    if message is None:     # what changes, not what was asked: unsetting a field not set is no change
        changed = [k for k in values if fields.get(k) != before.get(k)]
        set_ = [k for k in changed if k in fields]
        unset = [k for k in changed if k not in fields]
        message = "card: " + "; ".join(part for part in (
            f"set {', '.join(set_)}" if set_ else "", f"unset {', '.join(unset)}" if unset else "") if part)
    # no field changed: no metadata change, so no commit (it comes back `unchanged`)
    from dsreg.versions.commit import commit
    return commit(reg, dataset, {}, message=message, branch=rev, metadata={"card": fields} if fields != before else {})


__all__ = ["KNOWN_FIELDS", "LIST_FIELDS", "TEXT_FIELDS", "validate", "set_fields",
           "card_fields"]
