#!/usr/bin/env bash
# SQL for sqlite3: a few thousand INSERT statements, an index, joins,
# aggregates, updates, a recursive query, VACUUM and an integrity check.
# Written to stdout; run.sh feeds it to sqlite3 with `.read`.
set -eu
{
  echo "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL);"
  echo "CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);"
  echo "BEGIN;"
  awk 'BEGIN { for (i = 1; i <= 5000; i++)
                 printf "INSERT INTO item(name, grp, price) VALUES (%c%s-%d%c, %d, %d.%02d);\n",
                        39, substr("abcdefghijklmnopqrstuvwxyz", i % 26 + 1, 5), i, 39, i % 37, (i * 7919) % 1000, i % 100;
               for (g = 0; g < 37; g++) printf "INSERT INTO grp VALUES (%d, %cgroup %d%c);\n", g, 39, g, 39 }'
  echo "COMMIT;"
  echo "CREATE INDEX item_grp ON item(grp, price);"
  echo "SELECT g.label, count(*), printf('%.2f', sum(i.price)), min(i.name), max(i.name) FROM item i JOIN grp g ON g.id = i.grp GROUP BY g.id ORDER BY g.id;"
  echo "SELECT name, price FROM item WHERE name LIKE 'fgh%' ORDER BY price DESC, id LIMIT 10;"
  echo "UPDATE item SET price = price * 2 WHERE id % 3 = 0;"
  echo "DELETE FROM item WHERE id % 5 = 0;"
  echo "SELECT count(*), printf('%.2f', avg(price)), group_concat(DISTINCT substr(name, 1, 2)) FROM item;"
  echo "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000)"
  echo "  SELECT count(*), sum(length(printf('%0*d', x % 200, x))) FROM n;"
  echo "VACUUM;"
  echo "PRAGMA integrity_check;"
}
