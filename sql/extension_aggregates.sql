--
-- Aggregates beyond count/sum/avg/min/max, including aggregates of other
-- extensions (hll, tdigest): anything with a combine function is maintained
-- through pg_aggregate's support functions.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
CREATE EXTENSION IF NOT EXISTS hll;
CREATE EXTENSION IF NOT EXISTS tdigest;
RESET client_min_messages;
SET extra_float_digits = 0;

CREATE SCHEMA ea;
CREATE TABLE ea.src (g int, u text, x float8, b int);
SELECT continuous.create_stream('ea.ev', 'g int, u text, x float8, b int');

-- Statistics, boolean and bitwise aggregates: exact, compared with the query.
SELECT continuous.create_view('ea.stats', $$
	SELECT g, stddev_samp(x) AS sd_samp, stddev_pop(x) AS sd_pop, var_samp(x) AS v_samp,
		   var_pop(x) AS v_pop, variance(b) AS v_int, stddev(b::numeric) AS sd_num,
		   corr(x, b) AS corr, covar_pop(x, b) AS cov_pop, covar_samp(x, b) AS cov_samp,
		   regr_slope(x, b) AS slope, regr_intercept(x, b) AS icpt, regr_r2(x, b) AS r2,
		   regr_count(x, b) AS rc, regr_avgx(x, b) AS ax, regr_sxx(x, b) AS sxx,
		   bool_and(x > 10) AS all_big, bool_or(x > 2900) AS any_huge, every(b % 2 = 0) AS all_even,
		   bit_and(b) AS band, bit_or(b) AS bor, bit_xor(b) AS bxor
	FROM ea.ev
	GROUP BY g
$$);
-- hll: the union of sketches does not depend on the order, so the estimate
-- equals the batch query's.
SELECT continuous.create_view('ea.users', $$
	SELECT g, hll_cardinality(hll_add_agg(hll_hash_text(u))) AS users, count(*) AS n
	FROM ea.ev
	GROUP BY g
$$);
-- The same over the table, whose rows are then updated and deleted.
SELECT continuous.create_view('ea.users_t', $$
	SELECT g, hll_cardinality(hll_add_agg(hll_hash_text(u))) AS users, count(*) AS n
	FROM ea.src
	GROUP BY g
$$);
-- tdigest: an approximation whose digest depends on the order it is built in,
-- as in a parallel query; checked against the exact percentiles below.
SELECT continuous.create_view('ea.latency', $$
	SELECT g, tdigest_percentile(x, 100, 0.5) AS median,
		   tdigest_percentile(x, 100, ARRAY[0.1, 0.9]) AS p10_p90, count(*) AS n
	FROM ea.src
	GROUP BY g
$$);

INSERT INTO ea.ev SELECT i % 3, 'u' || (i % 50), i * 1.0, i % 37 FROM generate_series(1, 3000) i;
INSERT INTO ea.src SELECT i % 3, 'u' || (i % 50), i * 1.0, i % 37 FROM generate_series(1, 3000) i;
BEGIN;
INSERT INTO ea.ev SELECT i % 3, 'v' || (i % 70), i * 0.5, i % 11 FROM generate_series(1, 1000) i;
INSERT INTO ea.src SELECT i % 3, 'v' || (i % 70), i * 0.5, i % 11 FROM generate_series(1, 1000) i;
COMMIT;
CREATE TABLE ea.shadow AS SELECT * FROM ea.src;
SELECT continuous.sync();

-- Float statistics may differ in the last bits (summation order): compare
-- to 1e-9 relative; the rest exactly.
SELECT s.g,
	   abs(s.sd_samp - q.sd_samp) <= 1e-9 * abs(q.sd_samp) AS sd_samp,
	   abs(s.sd_pop - q.sd_pop) <= 1e-9 * abs(q.sd_pop) AS sd_pop,
	   abs(s.v_samp - q.v_samp) <= 1e-9 * abs(q.v_samp) AS v_samp,
	   abs(s.v_pop - q.v_pop) <= 1e-9 * abs(q.v_pop) AS v_pop,
	   s.v_int = q.v_int AS v_int, s.sd_num = q.sd_num AS sd_num,
	   abs(s.corr - q.corr) <= 1e-9 AS corr,
	   abs(s.cov_pop - q.cov_pop) <= 1e-9 * abs(q.cov_pop) AS cov_pop,
	   abs(s.cov_samp - q.cov_samp) <= 1e-9 * abs(q.cov_samp) AS cov_samp,
	   abs(s.slope - q.slope) <= 1e-9 * abs(q.slope) AS slope,
	   abs(s.icpt - q.icpt) <= 1e-9 * abs(q.icpt) AS icpt,
	   abs(s.r2 - q.r2) <= 1e-9 AS r2, s.rc = q.rc AS rc,
	   abs(s.ax - q.ax) <= 1e-9 * abs(q.ax) AS ax,
	   abs(s.sxx - q.sxx) <= 1e-9 * abs(q.sxx) AS sxx,
	   (s.all_big, s.any_huge, s.all_even, s.band, s.bor, s.bxor)
		 IS NOT DISTINCT FROM (q.all_big, q.any_huge, q.all_even, q.band, q.bor, q.bxor) AS bool_bit
FROM ea.stats s
JOIN (SELECT g, stddev_samp(x) AS sd_samp, stddev_pop(x) AS sd_pop, var_samp(x) AS v_samp,
			 var_pop(x) AS v_pop, variance(b) AS v_int, stddev(b::numeric) AS sd_num,
			 corr(x, b) AS corr, covar_pop(x, b) AS cov_pop, covar_samp(x, b) AS cov_samp,
			 regr_slope(x, b) AS slope, regr_intercept(x, b) AS icpt, regr_r2(x, b) AS r2,
			 regr_count(x, b) AS rc, regr_avgx(x, b) AS ax, regr_sxx(x, b) AS sxx,
			 bool_and(x > 10) AS all_big, bool_or(x > 2900) AS any_huge, every(b % 2 = 0) AS all_even,
			 bit_and(b) AS band, bit_or(b) AS bor, bit_xor(b) AS bxor
	  FROM ea.shadow GROUP BY g) q USING (g)
ORDER BY g;
SELECT g, all_big, any_huge, all_even, band, bor, bxor, rc FROM ea.stats ORDER BY g;

SELECT (SELECT count(*) FROM (
		(SELECT * FROM ea.users EXCEPT ALL
		 SELECT g, hll_cardinality(hll_add_agg(hll_hash_text(u))), count(*) FROM ea.shadow GROUP BY g)
		UNION ALL
		(SELECT g, hll_cardinality(hll_add_agg(hll_hash_text(u))), count(*) FROM ea.shadow GROUP BY g
		 EXCEPT ALL SELECT * FROM ea.users)) d) AS users_diff;
SELECT g, users, n FROM ea.users ORDER BY g;

-- Each tdigest percentile is within 2% of the value range of the exact one.
SELECT l.g, l.n,
	   abs(l.median - q.median) <= 0.02 * q.span AS median_close,
	   abs(l.p10_p90[1] - q.p10) <= 0.02 * q.span AS p10_close,
	   abs(l.p10_p90[2] - q.p90) <= 0.02 * q.span AS p90_close
FROM ea.latency l
JOIN (SELECT g, percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS median,
			 percentile_cont(0.1) WITHIN GROUP (ORDER BY x) AS p10,
			 percentile_cont(0.9) WITHIN GROUP (ORDER BY x) AS p90,
			 max(x) - min(x) AS span
	  FROM ea.shadow GROUP BY g) q USING (g)
ORDER BY l.g;

-- Extension aggregates have no inverse: their views over a table keep their
-- inputs, and recompute a group when a row leaves.  After deleting and
-- updating rows, hll still equals the batch query and tdigest stays close.
DELETE FROM ea.src WHERE x > 2500 OR u LIKE 'v1%';
UPDATE ea.src SET g = (g + 1) % 3, u = u || 'x' WHERE b % 5 = 0;
SELECT continuous.sync();
SELECT (SELECT count(*) FROM (
		(SELECT * FROM ea.users_t EXCEPT ALL
		 SELECT g, hll_cardinality(hll_add_agg(hll_hash_text(u))), count(*) FROM ea.src GROUP BY g)
		UNION ALL
		(SELECT g, hll_cardinality(hll_add_agg(hll_hash_text(u))), count(*) FROM ea.src GROUP BY g
		 EXCEPT ALL SELECT * FROM ea.users_t)) d) AS users_t_diff;
SELECT l.g, l.n,
	   abs(l.median - q.median) <= 0.02 * q.span AS median_close,
	   abs(l.p10_p90[1] - q.p10) <= 0.02 * q.span AS p10_close,
	   abs(l.p10_p90[2] - q.p90) <= 0.02 * q.span AS p90_close
FROM ea.latency l
JOIN (SELECT g, percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS median,
			 percentile_cont(0.1) WITHIN GROUP (ORDER BY x) AS p10,
			 percentile_cont(0.9) WITHIN GROUP (ORDER BY x) AS p90,
			 max(x) - min(x) AS span, count(*) AS n
	  FROM ea.src GROUP BY g) q USING (g, n)
ORDER BY l.g;

-- Hypothetical-set aggregates of several arguments are refused.
SELECT continuous.create_view('ea.refused', 'SELECT rank(0.5, 1) WITHIN GROUP (ORDER BY x, b) FROM ea.src');

SET client_min_messages = warning;
DROP SCHEMA ea CASCADE;
RESET client_min_messages;
