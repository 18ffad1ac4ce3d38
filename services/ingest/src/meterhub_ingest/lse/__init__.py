"""ERCOT LSE (Lodestar Enhanced) interval files: result codes, streaming parser, renderer."""

from meterhub_ingest.lse.codes import ResultCode
from meterhub_ingest.lse.parser import (
    CONSUMPTION,
    GENERATION,
    MAX_RECORDS,
    LseFileError,
    ParsedRecord,
    RejectedRecord,
    normalise_decimal,
    parse_lse,
)
from meterhub_ingest.lse.render import render_lse, synthetic_record

__all__ = [
    "CONSUMPTION",
    "GENERATION",
    "MAX_RECORDS",
    "LseFileError",
    "ParsedRecord",
    "RejectedRecord",
    "ResultCode",
    "normalise_decimal",
    "parse_lse",
    "render_lse",
    "synthetic_record",
]
