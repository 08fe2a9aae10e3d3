"""A leaderboard of shared agents: claimed scores, and optionally measured ones.

:func:`leaderboard` lists the models on a Hub endpoint tagged with an env id (every
one, as the course leaderboard lists them; ``tag="reinforce"`` narrows it), reads
each card's ``model-index`` claim from the listing (no download), and ranks the models
by the Deep RL leaderboard's score, claimed mean minus std. Cards that do not parse,
or that claim a result on another env, are kept in the output as "set apart" rows
with the reason in ``problem``: nothing is dropped silently. Models of another
library (stable-baselines3, CleanRL, ...) are ranked by their claim and marked "not
verifiable here: FORMAT".

With ``verify=True`` every verifiable model with a claim is downloaded (safetensors
and JSON only, pinned to the commit that was listed) and re-evaluated; the rows then
carry the measured score and whether the claim holds, and are ranked by the measured
score. Verification runs in a process pool (``workers``, default the number of usable
cores; ``workers=1`` runs in this process), or as Ray tasks on a cluster (``ray``;
``"local"`` starts a local Ray); in each, models of the same architecture are
evaluated together, with the numbers each gives alone (:mod:`hubpg.ranking.lanes`).
A model whose verification fails is set apart with the reason; it never stops the
others. With ``db`` (a :mod:`hubpg.store` SQLite file) a model whose listed commit
was already measured with the same protocol is not evaluated again.

Every row is a flat dict of scalars (:data:`ROW_KEYS`), ready for
``pandas.DataFrame(rows)``.

The modules: :mod:`~hubpg.ranking.rows` (rows, claims, ranking),
:mod:`~hubpg.ranking.listing` (what is listed), :mod:`~hubpg.ranking.board` (the
options and the run), :mod:`~hubpg.ranking.executors` (in-process, pool, Ray),
:mod:`~hubpg.ranking.unit` (one work unit: downloads beside evaluations),
:mod:`~hubpg.ranking.lanes` (many models in one vector env),
:mod:`~hubpg.ranking.table` (text and CSV).
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
