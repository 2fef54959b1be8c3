--
-- A DISTINCT aggregate whose arguments after the first are constants is
-- DISTINCT over its first argument: string_agg(DISTINCT url, ','), with or
-- without ORDER BY of that argument, over a stream and a table.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;
CREATE SCHEMA dc;
SELECT continuous.create_stream('dc.clicks', 'session int, url text');
SELECT continuous.create_view('dc.pages', $$
	SELECT session, string_agg(DISTINCT url, ',') AS pages,
		   string_agg(DISTINCT url, ' > ' ORDER BY url DESC) AS pages_desc,
		   count(DISTINCT url) AS n
	FROM dc.clicks GROUP BY session $$);
CREATE TABLE dc.shadow (session int, url text);
INSERT INTO dc.clicks VALUES (1, '/home'), (1, '/cart'), (1, '/home'), (2, '/help'), (2, NULL), (1, '/about');
INSERT INTO dc.shadow VALUES (1, '/home'), (1, '/cart'), (1, '/home'), (2, '/help'), (2, NULL), (1, '/about');
INSERT INTO dc.clicks VALUES (2, '/home'), (1, '/cart');
INSERT INTO dc.shadow VALUES (2, '/home'), (1, '/cart');
SELECT continuous.sync();
SELECT * FROM dc.pages ORDER BY session;
SELECT session, string_agg(DISTINCT url, ',') AS pages,
	   string_agg(DISTINCT url, ' > ' ORDER BY url DESC) AS pages_desc, count(DISTINCT url) AS n
FROM dc.shadow GROUP BY session ORDER BY session;

-- Over a table with deletes.
SELECT continuous.create_view('dc.table_pages', $$
	SELECT session, string_agg(DISTINCT url, ';') AS pages FROM dc.shadow GROUP BY session $$);
SELECT continuous.sync();
DELETE FROM dc.shadow WHERE url = '/cart';
SELECT continuous.sync();
SELECT * FROM dc.table_pages ORDER BY session;
SELECT session, string_agg(DISTINCT url, ';') AS pages FROM dc.shadow GROUP BY session ORDER BY session;

-- An argument that varies is still refused.
SELECT continuous.create_view('dc.refused', $$SELECT string_agg(DISTINCT url, url) FROM dc.clicks$$);
-- ORDER BY must be over the first argument (PostgreSQL lists ORDER BY items
-- first among the DISTINCT clauses; a constant there is not the argument).
SELECT continuous.create_view('dc.refused', $$SELECT string_agg(DISTINCT url, ','::text ORDER BY ','::text) FROM dc.clicks$$);

SET client_min_messages = warning;
DROP SCHEMA dc CASCADE;
RESET client_min_messages;
