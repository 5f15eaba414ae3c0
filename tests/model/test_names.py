"""Names and revisions: what a new name may be (names.py), and that a commit id, or a
6+-hex prefix of one, always means that commit (model/revisions.py)."""
from __future__ import annotations

import pytest

import dsreg
from dsreg.errors import DsregError, UnknownRevision, UsageError
from dsreg.model.revisions import split_spec
from dsreg.names import check_dataset_name, check_ref_name, check_ref_syntax, check_split_name
from helpers.tables import make_table

REFUSED = [
    # hex-only names of 6+ characters look like commit ids or prefixes of them
    ("branch", "abcdef", "looks like a commit id"),
    ("branch", "0123456789abcdef0123456789abcdef", "looks like a commit id"),
    ("tag", "DEADBEEF", "looks like a commit id"),
    ("tag", "0" * 40, "looks like a commit id"),
    # invisible, bidirectional and C1 characters make one name look like another
    ("branch", "main\u202e", "invisible or direction-changing"),
    ("tag", "v\u200b1", "invisible or direction-changing"),
    ("branch", "a\ufeffb", "invisible or direction-changing"),
    ("tag", "v\u20661", "invisible or direction-changing"),
    ("branch", "a\u00a0b", "invisible or direction-changing"),
    ("branch", "a\u2028b", "invisible or direction-changing"),
    ("tag", "v\x9b1", "control character"),
    ("dataset", "d\u202es", "invisible or direction-changing"),
    ("split", "tr\u200dain", "invisible or direction-changing"),
    # lengths: a component becomes a file name on folder remotes (255 bytes at most)
    ("dataset", "x" * 201, "longer than 200 bytes"),
    ("branch", "é" * 101, "longer than 200 bytes"),
    ("tag", "a/" + "b" * 201, "longer than 200 bytes"),
    ("dataset", "/".join(["y" * 200] * 3), "longer than 400 bytes"),
]


def _check(kind: str, name: str) -> str:
    if kind == "dataset":
        return check_dataset_name(name)
    if kind == "split":
        return check_split_name(name)
    return check_ref_name(name, kind)


@pytest.mark.parametrize("kind,name,says", REFUSED, ids=[f"{k}:{ascii(n)[:40]}" for k, n, _ in REFUSED])
def test_new_names_that_could_mislead_are_refused(kind, name, says):
    with pytest.raises(UsageError, match=says) as e:
        _check(kind, name)
    assert e.value.exit_code == 2
    # the message shows the name escaped, never the raw character
    assert all(c.isprintable() for c in str(e.value)), ascii(str(e.value))


@pytest.mark.parametrize("kind,name", [
    ("branch", "abcde"), ("branch", "abcdefg-1"), ("tag", "v1.2.3"), ("tag", "2024-01-01"),
    ("branch", "feature/abcdef"), ("tag", "deadbeef.1"), ("dataset", "abcdef"), ("split", "abcdef12"),
    ("dataset", "org/" + "x" * 200), ("branch", "é" * 100), ("tag", "café"), ("dataset", "数据集"),
])
def test_ordinary_names_are_accepted(kind, name):
    assert _check(kind, name) == name


def test_remote_names_may_be_hex():
    """A remote name is never read as a revision."""
    assert check_ref_name("abcdef", "remote", allow_slash=False) == "abcdef"


def test_the_syntax_rules_alone_still_accept_what_older_dsregs_wrote():
    """Names read back from a store are checked for safety as paths only, so nothing an
    older dsreg wrote is hidden; what it may no longer create is refused where it is made."""
    for name in ("abcdef12", "v\u200b1", "x" * 230):
        assert check_ref_syntax(name, "branch") == name
    for bad in ("../x", "a\x01b", "a b", ""):
        with pytest.raises(UsageError):
            check_ref_syntax(bad, "branch")


@pytest.mark.parametrize("spec", ["ds@main~\u0661", "ds@main~\u0967", "ds@main~\uff11", "ds@main~1\u0662"])
def test_only_ascii_digits_count_back(registry, spec):
    registry.commit("ds", make_table(10), message="v1")
    registry.commit("ds", make_table(12), message="v2")
    with pytest.raises(UsageError, match="invalid revision"):
        registry.resolve(spec)
    assert split_spec("ds@main~1") == ("ds", "main", 1)


# -- a pinned id means that commit -------------------------------------------------------
def _legacy_ref(reg, kind: str, name: str, commit: str) -> None:
    """A ref as an older dsreg (which accepted any name) could have left in the manifest."""
    with reg.manifest.transaction():
        reg.manifest.set_ref("ds", kind, name, commit, None, "older dsreg")


@pytest.mark.parametrize("cli", [False, True])
def test_branch_and_tag_names_that_look_like_ids_are_refused(registry, cli):
    registry.commit("ds", make_table(10), message="v1")
    c1 = registry.resolve("ds")
    for kind, name in (("branch", c1), ("tag", c1[:12]), ("branch", c1[:6].upper())):
        if cli:
            from helpers.cli import fails
            fails(kind, "ds", name, "main", code=2, says="looks like a commit id")
        else:
            with pytest.raises(UsageError, match="looks like a commit id"):
                getattr(registry, kind)("ds", name, "main")
    with pytest.raises(UsageError, match="looks like a commit id"):
        registry.commit("ds", make_table(5), message="x", branch="cafe1234")
    assert {r.name for r in registry.manifest.refs("ds")} == {"main"}


def test_a_pinned_id_wins_over_a_ref_of_that_name(registry):
    """Second line of defence: refs an older dsreg let take such names are never read in
    place of the commit a full id or a 6+-hex prefix names."""
    registry.commit("ds", make_table(10), message="v1")
    c1 = registry.resolve("ds")
    registry.commit("ds", make_table(20, seed=3), message="v2")
    c2 = registry.resolve("ds")
    _legacy_ref(registry, "branch", c1, c2)
    _legacy_ref(registry, "tag", c1[:12], c2)
    for spec in (f"ds@{c1}", f"ds@{c1[:12]}", f"ds@{c1[:6]}", f"ds@{c1.upper()}"):
        assert registry.resolve(spec) == c1, spec
        assert dsreg.load(spec, registry=registry.root).num_rows == 10, spec
    assert registry.resolve(f"ds@{c2}~1") == c1


def test_a_legacy_id_looking_ref_that_names_no_commit_says_how_to_reach_it(registry):
    registry.commit("ds", make_table(10), message="v1")
    c1 = registry.resolve("ds")
    _legacy_ref(registry, "branch", "abcdef99", c1)
    with pytest.raises(UnknownRevision, match="looks like a commit id") as e:
        registry.resolve("ds@abcdef99")
    assert "dsreg branch ds NEW" in str(e.value)
    registry.branch("ds", "renamed", c1)            # by its commit, as the hint says
    registry.branch("ds", delete="abcdef99")
    assert registry.resolve("ds@renamed") == c1


def test_names_made_by_older_dsregs_stay_readable(registry):
    """Addressing an existing dataset or ref checks syntax only: a 230-byte name made
    before names were bounded still reads, though no new one may be made."""
    long = "d" * 230
    with pytest.raises(UsageError, match="longer than 200 bytes"):
        registry.commit(long, make_table(3), message="x")
    registry.commit("ds", make_table(10), message="v1")
    _legacy_ref(registry, "tag", "v\u200b1", registry.resolve("ds"))
    assert registry.resolve("ds@v\u200b1") == registry.resolve("ds")
    with pytest.raises(DsregError, match="unknown dataset"):
        registry.resolve(long)
