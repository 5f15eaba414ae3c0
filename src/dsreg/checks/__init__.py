"""Checks: contracts a version must keep, stored per dataset and branch, enforced at
commit, merge and push, carried to remotes. Rules: rules.py; evaluation: evaluate.py;
results: report.py; the hooks: verify.py; the verbs: manage.py."""
from __future__ import annotations

from dsreg.checks.manage import AddedCheck, Check, add_check, list_checks, remove_check, run_checks
from dsreg.checks.report import CheckReport, CheckResult
from dsreg.checks.rules import Rule, parse_rule
from dsreg.checks.verify import CommitVerifier, push_verifier, verify_version

__all__ = ["AddedCheck", "Check", "add_check", "list_checks", "remove_check", "run_checks", "CheckReport",
           "CheckResult", "Rule", "parse_rule", "CommitVerifier", "push_verifier", "verify_version"]
