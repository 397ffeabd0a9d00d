"""xiaobao (消保): recognise paid proxy complainants by voice, letters and face, and handle
the complaints they touch.

The public API is re-exported here; the CLI (``xiaobao``) is a thin layer over it.
"""
from xiaobao.errors import InputError, NotFoundError, UserError, XiaobaoError
from xiaobao.index import Match, register_default_thresholds
from xiaobao.workspace import Workspace
from xiaobao.complaints_engine.api import ingest  # complaints intake (CSV/JSONL/XLSX)
from xiaobao.complaints_engine.api import screen  # complaints screening, fusion, rings

__version__ = "0.1.0"

__all__ = [
    "Workspace",
    "Match",
    "XiaobaoError",
    "UserError",
    "InputError",
    "NotFoundError",
    "register_default_thresholds",
    "ingest",
    "screen",
    "check",
    "customer_profile",
    "record_outcome",
    "warnings_before",
    "__version__",
]
from xiaobao.prevention.check import check  # noqa: E402  touchpoint check (logged)
from xiaobao.prevention.profile import customer_profile  # noqa: E402  the customer view
from xiaobao.prevention.outcomes import record_outcome, warnings_before  # noqa: E402  was the warning heeded
