"""A leaderboard of shared agents: claimed scores, and optionally measured ones.

:func:`leaderboard` lists the models on a Hub endpoint tagged with an env id (``tag``
narrows it), reads each card's ``model-index`` claim from the listing (no download) and
ranks the models by the Deep RL leaderboard's score, claimed mean minus std. Rows that
cannot be ranked are kept, set apart with the reason in ``problem``; other libraries'
models are marked "not verifiable here: FORMAT".

With ``verify=True`` every verifiable model is downloaded at the listed commit and
re-evaluated (in a process pool, or as Ray tasks), and the rows are ranked by the
measured score; a failed verification sets its model apart and never stops the others.
With ``db`` (a :mod:`hubpg.store` file) a commit already measured with the same protocol
is not evaluated again. Every row is a flat dict of scalars (:data:`ROW_KEYS`).
"""

from __future__ import annotations

from hubpg.errors import RayMissingError
from hubpg.ranking.board import LeaderboardOptions, MeasureProtocol, leaderboard, run_leaderboard
from hubpg.ranking.executors import (
    PoolVerifier,
    RayVerifier,
    Verifier,
    make_verifier,
    verify_batch,
    verify_one,
)
from hubpg.ranking.rows import (
    LEGACY_PROBLEM,
    NO_CLAIM,
    NOT_VERIFIABLE,
    PICKLE_PROBLEM,
    ROW_KEYS,
    Row,
    apply_measurement,
    rank_rows,
    row_from_listing,
)
from hubpg.ranking.table import format_table, write_csv

__all__ = [
    "LEGACY_PROBLEM",
    "NOT_VERIFIABLE",
    "NO_CLAIM",
    "PICKLE_PROBLEM",
    "ROW_KEYS",
    "LeaderboardOptions",
    "MeasureProtocol",
    "PoolVerifier",
    "RayMissingError",
    "RayVerifier",
    "Row",
    "Verifier",
    "apply_measurement",
    "format_table",
    "leaderboard",
    "make_verifier",
    "rank_rows",
    "row_from_listing",
    "run_leaderboard",
    "verify_batch",
    "verify_one",
    "write_csv",
]
