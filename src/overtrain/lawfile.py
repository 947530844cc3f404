"""Fitted laws saved as readable JSON and loaded back without the runs they were fitted to.

    {"format": "overtrain-laws", "format_version": 1, "overtrain_version": ..., "data": {source, sha256},
     "laws": [{"family": ..., "loss": Fit.to_dict(), "error": Fit.to_dict() | null}, ...]}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from overtrain._version import __version__
from overtrain.errors import OvertrainError
from overtrain.files import write_text_atomic
from overtrain.forecasts import FittedLaws
from overtrain.runs.table import RunTable

FORMAT = "overtrain-laws"
FORMAT_VERSION = 1


def provenance(runs: RunTable) -> dict[str, Any]:
    """Where the fitted data came from: the source path and, for a file, its SHA-256."""
    source = Path(runs.source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest() if source.is_file() else None
    return {"source": runs.source, "sha256": digest, "runs": len(runs)}


def laws_document(laws: Sequence[FittedLaws], data: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of a law file."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "overtrain_version": __version__,
        "data": data,
        "laws": [law.to_dict() for law in laws],
    }


def save_laws(path: str | Path, laws: Sequence[FittedLaws], data: dict[str, Any]) -> None:
    """Write the law file whole or not at all.

    Parameters
    ----------
    path : str or Path
        Where to write the JSON law file.
    laws : sequence of FittedLaws
        Each family's fitted laws.
    data : dict
        Where the fitted runs came from (`provenance(runs)`), stored as the document's `data`.

    Returns
    -------
    None
        The file holds the format, its version, overtrain's version, `data` and each family's laws."""
    write_text_atomic(path, json.dumps(laws_document(laws, data), indent=2, allow_nan=False) + "\n")


def load_laws(path: str | Path) -> list[FittedLaws]:
    """Read a law file written by `save_laws`.

    Parameters
    ----------
    path : str or Path
        The law file (`overtrain fit -o`).

    Returns
    -------
    list of FittedLaws
        Each family's loss law and error law (None where it had none), without the runs."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OvertrainError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise OvertrainError(f"{path}: malformed JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OvertrainError(f"{path}: cannot read ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise OvertrainError(f"{path}: not an overtrain law file (written by `overtrain fit -o`)")
    if document.get("format_version") != FORMAT_VERSION:
        raise OvertrainError(f"{path}: law file format version {document.get('format_version')!r} is not supported")
    try:
        return [FittedLaws.from_dict(entry) for entry in document["laws"]]
    except OvertrainError as error:
        raise OvertrainError(f"{path}: {error}") from None
    except (KeyError, TypeError):
        raise OvertrainError(f"{path}: law file has no valid 'laws' list") from None
