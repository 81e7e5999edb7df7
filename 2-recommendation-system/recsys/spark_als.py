"""Implicit-feedback ALS on Apache Spark, for data past one machine, ranked and scored as ours.

``SparkALS`` fits ``pyspark.ml.recommendation.ALS`` (``implicitPrefs``) and plugs into the same
``Recommender`` interface as ``models.mf.ImplicitALS``: ``evaluate(SparkALS(), split)`` uses the
same split, the same top-K (seen items masked, ties to the lower item index) and the same
metrics. For data whose users do not fit on the driver, ``recommend_in_spark`` and
``ranking_metrics_in_spark`` do the masked top-K and the metrics as Spark jobs.

Optional: pyspark is imported only when Spark is used (``pip install 'recsys[spark]'``, and a
Java 17+ runtime). Spark's ALS is not ``implicit``'s; ``SparkALS`` takes ``implicit``'s
parameters and maps them:

- confidence: Spark weighs an observed interaction ``1 + alpha * r``, ``implicit``
  ``alpha * r``; on binarised data Spark's ``alpha`` is ours minus one (the same weights).
- regularisation: Spark multiplies ``regParam`` by each user's (item's) interaction count
  (ALS-WR); ``implicit`` adds ``regularization`` once. No setting makes them equal for every
  user; ``regParam = regularization * n_users / n_interactions`` gives the average user the
  same penalty.
- items without training interactions: Spark keeps no factors for them; here they get zero
  factors (the exact solution of their normal equations), so they score 0, as in ``implicit``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender, binarize

if TYPE_CHECKING:  # pyspark is optional; only the type checker reads these
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame, SparkSession

INSTALL_HINT = (
    "install the optional Spark extra: pip install -e '2-recommendation-system[spark]' "
    "(or pip install -r 2-recommendation-system/requirements-spark.txt), and a Java 17+ runtime "
    "(Debian/Ubuntu: apt-get install default-jre-headless)"
)
# Spark's RankingEvaluator metric names, under the names mlshared.ranking_report gives them.
SparkMetric = Literal["precisionAtK", "recallAtK", "ndcgAtK", "meanAveragePrecisionAtK"]
SPARK_METRICS: dict[str, SparkMetric] = {
    "precision": "precisionAtK",
    "recall": "recallAtK",
    "ndcg": "ndcgAtK",
    "map": "meanAveragePrecisionAtK",
}
CHECKPOINT_INTERVAL = 10  # ALS iterations between checkpoints (Spark's default)


class SparkUnavailableError(ImportError):
    """pyspark or the Java runtime it drives is missing."""


def java_executable() -> str | None:
    """The ``java`` pyspark will start: ``$JAVA_HOME/bin/java`` if set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        path = Path(home) / "bin" / "java"
        return str(path) if path.is_file() else None
    return shutil.which("java")


def require_spark() -> None:
    """Raise ``SparkUnavailableError`` naming the install command when Spark cannot start."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise SparkUnavailableError(f"pyspark is not installed; {INSTALL_HINT}") from exc
    if java_executable() is None:
        where = "JAVA_HOME/bin/java" if os.environ.get("JAVA_HOME") else "java on PATH"
        raise SparkUnavailableError(f"Spark needs Java but found no {where}; {INSTALL_HINT}")


def local_session(
    cores: int | str = 2,
    shuffle_partitions: int = 4,
    driver_memory: str = "2g",
    **conf: str,
) -> SparkSession:
    """A local-mode session sized for one machine: no web UI, few shuffle partitions.

    Spark's default of 200 shuffle partitions turns a small job into hundreds of tiny tasks;
    ``driver_memory`` only applies when this call starts the JVM (local mode runs in it). Python
    workers run this interpreter unless PYSPARK_PYTHON says otherwise: Spark's default, the
    ``python3`` on PATH, may be another Python version, which Spark refuses. A temporary
    checkpoint directory (removed at exit) lets ALS cut its lineage (see ``SparkALS.fit``).
    """
    require_spark()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("recsys")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .config("spark.cleaner.referenceTracking.cleanCheckpoints", "true")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    if spark.sparkContext.getCheckpointDir() is None:
        checkpoints = tempfile.mkdtemp(prefix="recsys-spark-checkpoints-")
        atexit.register(shutil.rmtree, checkpoints, ignore_errors=True)
        spark.sparkContext.setCheckpointDir(checkpoints)
    return spark


def active_session() -> SparkSession:
    """The session the caller started (a cluster's, or a tuned local one), else a local one."""
    require_spark()
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() or local_session()


def interactions_frame(spark: SparkSession, matrix: sp.spmatrix, binary: bool = True) -> DataFrame:
    """A user x item sparse matrix as a Spark DataFrame (user, item, rating), sent as Arrow."""
    import pyarrow as pa

    coo = sp.coo_matrix(matrix)
    values = np.ones(coo.nnz) if binary else coo.data
    table = pa.table(
        {
            "user": coo.row.astype(np.int32),
            "item": coo.col.astype(np.int32),
            "rating": values.astype(np.float32),
        }
    )
    return spark.createDataFrame(table)


def _dense_factors(frame: DataFrame, n_rows: int, rank: int) -> np.ndarray:
    """Spark's (id, features) factor table as a dense array; ids it has no row for stay zero."""
    table = frame.toArrow()
    out = np.zeros((n_rows, rank), dtype=np.float32)
    if table.num_rows:
        ids = table.column("id").to_numpy()
        flat = table.column("features").combine_chunks().flatten().to_numpy()
        out[ids] = flat.reshape(-1, rank)
    return out


class SparkALS(Recommender):
    """``pyspark.ml.recommendation.ALS`` with implicit feedback, parameters as ``ImplicitALS``.

    Fits in the active Spark session (or a local one); ``score``/``recommend`` then run on the
    driver from the collected factors, exactly as for ``ImplicitALS``. ``blocks`` sets Spark's
    user and item block counts (its default of 10 suits a cluster, not a 2-core laptop).
    """

    name = "SparkALS"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        seed: int = 0,
        blocks: int = 4,
    ) -> None:
        if alpha < 1.0:
            raise ValueError(
                f"alpha must be >= 1 (got {alpha}): Spark weighs an interaction 1 + alpha', so "
                "implicit's alpha below 1 (observed weighed less than unobserved) has no equivalent"
            )
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.seed, self.blocks = iterations, seed, blocks

    def spark_params(self, train: sp.spmatrix) -> dict[str, Any]:
        """Spark ALS arguments equivalent to these ``implicit`` ones (see the module docstring)."""
        n_users, nnz = train.shape[0], max(train.nnz, 1)
        return {
            "rank": self.factors,
            "maxIter": self.iterations,
            "regParam": self.regularization * n_users / nnz,
            "alpha": self.alpha - 1.0,
            "implicitPrefs": True,
            "seed": self.seed,
            "numUserBlocks": self.blocks,
            "numItemBlocks": self.blocks,
            "checkpointInterval": CHECKPOINT_INTERVAL,
            "userCol": "user",
            "itemCol": "item",
            "ratingCol": "rating",
        }

    def fit(self, train: sp.csr_matrix) -> Self:
        """Fit in Spark, then collect the factors to the driver.

        Spark's lineage grows with every iteration; past ``CHECKPOINT_INTERVAL`` later jobs on the
        model fail with a StackOverflowError unless ALS can checkpoint, so a session without a
        checkpoint directory is refused up front for longer fits.
        """
        spark = active_session()
        from pyspark.ml.recommendation import ALS

        if self.iterations > CHECKPOINT_INTERVAL and spark.sparkContext.getCheckpointDir() is None:
            raise ValueError(
                f"{self.iterations} ALS iterations need a Spark checkpoint directory (without one, "
                "jobs on the model fail with StackOverflowError): call "
                "spark.sparkContext.setCheckpointDir(path), a path every node can reach, or start "
                "the session with recsys.spark_als.local_session()"
            )

        x = binarize(train)
        frame = interactions_frame(spark, x).cache()
        try:
            model = ALS(**self.spark_params(x)).fit(frame)
        finally:
            frame.unpersist()
        self.model_: ALSModel = model
        self.user_factors_ = _dense_factors(model.userFactors, x.shape[0], self.factors)
        self.item_factors_ = _dense_factors(model.itemFactors, x.shape[1], self.factors)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T

    def recommend_in_spark(self, seen: DataFrame, k: int = 10) -> DataFrame:
        """Top-k per user as a Spark job: (user, items) with ``seen`` (user, item) masked out.

        Spark's ``recommendForUserSubset`` cannot exclude items, so each user asks for
        ``k + n_seen`` candidates (rounded up to a power of two, one job per size), which always
        leaves k unseen ones; ties go to the lower item index, as on the driver. Items Spark has
        no factors for (no training interactions) are never recommended.
        """
        from pyspark.sql import functions as F

        need = seen.groupBy("user").agg(F.count("*").alias("n_seen"))
        need = need.withColumn("size", F.pow(2, F.ceil(F.log2(F.col("n_seen") + k))).cast("int"))
        parts = []
        for (size,) in need.select("size").distinct().collect():
            users = need.filter(F.col("size") == size).select("user")
            parts.append(self.model_.recommendForUserSubset(users, size))
        candidates = parts[0]
        for part in parts[1:]:
            candidates = candidates.unionByName(part)
        ranked = (
            candidates.select("user", F.explode("recommendations").alias("r"))
            .select("user", F.col("r.item").alias("item"), F.col("r.rating").alias("score"))
            .join(seen.select("user", "item"), ["user", "item"], "left_anti")
            .groupBy("user")
            .agg(F.sort_array(F.collect_list(F.struct(-F.col("score"), F.col("item")))).alias("r"))
        )
        return ranked.select(
            "user", F.transform(F.slice("r", 1, k), lambda s: s["item"]).alias("items")
        )


def recommendations_array(recs: DataFrame, users: np.ndarray, k: int) -> np.ndarray:
    """Spark's (user, items) rows as the (len(users), k) array ``evaluate`` uses, -1 padded."""
    table = recs.toArrow()
    row_of = {int(u): i for i, u in enumerate(table.column("user").to_pylist())}
    lists = table.column("items").to_pylist()
    out = np.full((len(users), k), -1, dtype=np.int64)
    for r, u in enumerate(users):
        items = lists[row_of[int(u)]] if int(u) in row_of else []
        out[r, : len(items)] = items
    return out


def ranking_metrics_in_spark(recs: DataFrame, relevant: DataFrame, k: int = 10) -> dict[str, float]:
    """Spark's RankingEvaluator means for the users in ``relevant`` (user, item).

    Users without a relevant item are not in ``relevant``, so they are left out, as
    ``evaluation.evaluable_users`` does (Spark would average a 0 in for them); a user with no
    recommendations counts with an empty list. Keys match ``mlshared.ranking_report``'s.
    """
    from pyspark.ml.evaluation import RankingEvaluator
    from pyspark.sql import functions as F

    labels = relevant.groupBy("user").agg(
        F.collect_set(F.col("item").cast("double")).alias("label")
    )
    predictions = recs.select("user", F.transform("items", lambda i: i.cast("double")).alias("p"))
    joined = (
        labels.join(predictions, "user", "left")
        .select("label", F.coalesce("p", F.array().cast("array<double>")).alias("prediction"))
        .cache()
    )
    try:
        return {
            f"{ours}@{k}": RankingEvaluator(metricName=theirs, k=k).evaluate(joined)
            for ours, theirs in SPARK_METRICS.items()
        }
    finally:
        joined.unpersist()
