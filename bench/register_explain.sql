-- The summary's slowest queries before the rollups (direct) and after (rollups), for
-- docs/benchmarks.md "P5 register at 1,000,000 incidents". Run against the data that
-- `bench/register.py --keep` leaves:
--   psql -h 127.0.0.1 -U postgres DB -v ON_ERROR_STOP=1 -f bench/register_explain.sql
SET search_path = bench_register;
\echo '== before: reporting-lag percentiles over the period (lead)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT count(h), percentile_cont(0.5) WITHIN GROUP (ORDER BY h), percentile_cont(0.9) WITHIN GROUP (ORDER BY h)
FROM (SELECT EXTRACT(epoch FROM reported_at - occurred_at) / 3600.0 AS h FROM incidents
      WHERE status <> 'draft' AND occurred_at >= '2025-04-01' AND occurred_at < '2026-03-02 09:00+00'
        AND reported_at IS NOT NULL) s;
\echo '== before: visits per month (lead)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT date_trunc('month', timezone('UTC', checked_in_at)) AS m, count(*) FROM visits
WHERE checked_in_at >= '2025-04-01' AND checked_in_at < '2026-03-02 09:00+00' GROUP BY m;
\echo '== before: repeat households (lead)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT i.household_id, h.display_address, count(*) AS n, max(i.occurred_at) FROM incidents i
JOIN households h ON h.id = i.household_id
WHERE i.status <> 'draft' AND i.occurred_at >= '2025-04-01' AND i.occurred_at < '2026-03-02 09:00+00'
GROUP BY i.household_id, h.display_address HAVING count(*) >= 2 ORDER BY n DESC, i.household_id LIMIT 50;
\echo '== before: the list total (lead, no filter)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT count(*) FROM (SELECT id FROM incidents WHERE status <> 'draft') s;
\echo '== after: lag buckets from the rollup (lead, 11 sealed months)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT bucket, sum(reports) FROM register_month_lags
WHERE month IN ('2025-04','2025-05','2025-06','2025-07','2025-08','2025-09','2025-10','2025-11','2025-12','2026-01','2026-02')
GROUP BY bucket;
\echo '== after: the rows of the bucket holding the median (hour 13), one rank'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT EXTRACT(epoch FROM reported_at - occurred_at) / 3600.0 AS h FROM incidents
WHERE status <> 'draft' AND occurred_at >= '2025-04-01' AND occurred_at < '2026-03-02 09:00+00'
  AND reported_at IS NOT NULL
  AND EXTRACT(epoch FROM reported_at - occurred_at) >= 46800 AND EXTRACT(epoch FROM reported_at - occurred_at) < 50400
ORDER BY h OFFSET 5000 LIMIT 2;
\echo '== after: visits per month and team from the rollup (lead)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT month, team_id, sum(visits) FROM register_month_visits
WHERE month IN ('2025-04','2025-05','2025-06','2025-07','2025-08','2025-09','2025-10','2025-11','2025-12','2026-01','2026-02')
GROUP BY month, team_id;
\echo '== after: repeat households from the rollup (lead)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT household_id, sum(incidents), max(last_occurred_at) FROM register_month_households
WHERE month IN ('2025-04','2025-05','2025-06','2025-07','2025-08','2025-09','2025-10','2025-11','2025-12','2026-01','2026-02')
GROUP BY household_id;
\echo '== after: the live month (March so far), counts by team and category'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT date_trunc('month', timezone('UTC', occurred_at)) AS m, team_id, category, count(*) FROM incidents
WHERE status <> 'draft' AND occurred_at >= '2026-03-01' AND occurred_at < '2026-03-02 09:00+00'
GROUP BY m, team_id, category;
\echo '== after: the list total, counted to 10,001'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT count(*) FROM (SELECT id FROM incidents WHERE status <> 'draft' LIMIT 10001) s;
\echo '== both: overdue steps (lead)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT count(*) FROM incidents WHERE status IN ('reported','acknowledged','triaged','under_investigation','actions_open','hs_review','information_required') AND step_due_at < '2026-03-02 09:00+00';
