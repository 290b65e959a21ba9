-- sqlite.sql: sqlite3 building, indexing, joining and aggregating an
-- in-memory database (run as: sqlite3 :memory: < sqlite.sql). SQLite sends
-- its page cache, statements and row buffers through malloc.
-- Every SELECT checks its result against a closed form and prints
-- "check ok" or "check BAD"; the runner requires every check to be ok.
PRAGMA cache_size = -65536;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, payload TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t SELECT i, i % 1000, 'name-' || i, printf('%.*c', 20 + i % 200, 'x') FROM n;
CREATE INDEX t_grp ON t(grp, name);
CREATE TABLE g AS SELECT grp, count(*) AS c, sum(id) AS s, max(length(payload)) AS m FROM t GROUP BY grp;
-- 200000 rows in 1000 groups of 200; ids sum to n(n+1)/2.
SELECT CASE WHEN (SELECT count(*) FROM t) = 200000 AND (SELECT sum(c) FROM g) = 200000
  AND (SELECT sum(s) FROM g) = 200000 * 200001 / 2 AND (SELECT min(c) FROM g) = 200
  THEN 'check ok' ELSE 'check BAD' END;
-- A self-join through the index: each row of group 7 with each row of group 8.
SELECT CASE WHEN count(*) = 200 * 200 THEN 'check ok' ELSE 'check BAD' END
  FROM t a JOIN t b ON a.grp = 7 AND b.grp = 8;
-- Sorting by a text key that is not indexed: every row comes back once.
SELECT CASE WHEN count(DISTINCT name) = 200000 THEN 'check ok' ELSE 'check BAD' END
  FROM (SELECT name FROM t ORDER BY payload, name DESC);
UPDATE t SET payload = payload || payload WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT CASE WHEN count(*) = 160000 AND sum(length(payload)) =
  (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
   SELECT sum((20 + i % 200) * (CASE WHEN i % 3 = 0 THEN 2 ELSE 1 END)) FROM n WHERE i % 5 != 0)
  THEN 'check ok' ELSE 'check BAD' END FROM t;
