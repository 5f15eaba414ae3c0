"""The DVC bridge: import a DVC-tracked file or folder with its git history, export a
version into a DVC repository, and use a DVC remote as a dsreg remote.

DVC (and scmrepo, which comes with it) is imported only when one of these is called;
without the `dvc` extra they fail with one line saying how to install it.
"""
from __future__ import annotations

from dsreg.integrations.dvc.exporter import ExportResult, export_dvc
from dsreg.integrations.dvc.importer import ImportedRevision, ImportResult, import_dvc
from dsreg.integrations.dvc.remote import remote_from_dvc

__all__ = ["import_dvc", "ImportResult", "ImportedRevision", "export_dvc", "ExportResult", "remote_from_dvc"]
