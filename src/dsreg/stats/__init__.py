"""Column statistics that merge: computed once per block of rows, combined per version.

A block is one row group of a shard. For each block and column we keep only what can be
combined across blocks, exactly or as a bounded estimate:

- exact: rows, nulls, NaNs, min, max, sum (integers exactly), mean and standard deviation
  (sums and Chan's merge of squared deviations, in float64), the same for the lengths of
  strings, binaries and lists, bytes of the values, and the count of every value while a
  column holds at most `TOP_K` distinct values (then quantiles and histograms are exact too);
- estimated: the distinct count of other columns (HyperLogLog, 2^11 registers, about 2.3%
  standard error) and their quantiles and histograms (each block keeps `SUMMARY_POINTS`
  evenly spaced order statistics; a merged quantile is off by at most about
  1/(2*(SUMMARY_POINTS-1)) of the rank, i.e. half a percentile).

Block statistics also subtract (`without_rows`): a block less a few of its rows, from those
rows alone, except the distinct-value registers, made again from the rows left. Nothing here
reads objects or the manifest: `splitstats` assembles a version.
"""
from __future__ import annotations

from dsreg.stats.columns import (
                      STATS_FORMAT,
                      TOP_K,
                      ColumnStats,
                      TableStats,
                      column_stats,
                      kind_of,
                      lengths_of,
                      numbers_of,
                      shard_stats,
                      table_stats,
                      without_rows,
)
from dsreg.stats.distinct import HLL_P, hll_estimate, hll_registers
from dsreg.stats.finish import finalize
from dsreg.stats.numbers import HIST_BINS, QUANTILES, SUMMARY_POINTS, NumberStats

__all__ = ["STATS_FORMAT", "TOP_K", "SUMMARY_POINTS", "QUANTILES", "HIST_BINS", "HLL_P", "ColumnStats", "TableStats",
           "NumberStats", "column_stats", "table_stats", "shard_stats", "without_rows", "finalize", "kind_of",
           "numbers_of", "lengths_of", "hll_registers", "hll_estimate"]
