--
-- What backup and restore rest on: a continuous view's body reads its view
-- key beside its qualified definition; the body of a continuous view made
-- by hand or by a restore (CREATE VIEW) becomes a continuous view again;
-- one reading another view's key, or not matching its definition, is
-- refused; continuous.checkpoint().
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_continuous;
RESET client_min_messages;

CREATE FUNCTION expect_error(sql text) RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
	state text;
	message text;
	detail text;
	hint text;
BEGIN
	EXECUTE sql;
	RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN NEXT state || ': ' || message;
	IF detail <> '' THEN
		RETURN NEXT 'DETAIL: ' || detail;
	END IF;
	IF hint <> '' THEN
		RETURN NEXT 'HINT: ' || hint;
	END IF;
END
$fn$;

CREATE SCHEMA rs;
CREATE TABLE rs.items (g int, price numeric);
ALTER TABLE rs.items REPLICA IDENTITY FULL;
INSERT INTO rs.items SELECT i % 3, i FROM generate_series(1, 30) i;
SET search_path = rs, public;
SELECT continuous.create_view('rs.by_g', 'SELECT g, count(*) AS n, sum(price) AS total FROM items GROUP BY g');
RESET search_path;

-- The body: the key (a random UUID, masked here), the defining query and
-- the creator's settings in CTEs that nothing references.
SELECT regexp_replace(pg_get_viewdef('rs.by_g'::regclass), '''[0-9a-f-]{36}''', '''<key>''') AS body;
SELECT definition FROM continuous.views WHERE name = 'rs.by_g'::regclass;

-- A body reading another view's key is refused.
SELECT * FROM expect_error($$CREATE VIEW rs.thief AS $$ || pg_get_viewdef('rs.by_g'::regclass));
SELECT to_regclass('rs.thief') AS thief;

-- A body with a key no view has becomes a continuous view (what a restore
-- does); its definition must give the columns it reads.
CREATE FUNCTION rs.body(name text, definition text, columns text) RETURNS text
LANGUAGE sql AS $$
	SELECT format('CREATE VIEW %s AS WITH continuous_definition AS (%s), '
				  'continuous_settings AS (SELECT %L::text AS timezone, %L::text AS datestyle, %L::text AS intervalstyle) '
				  'SELECT * FROM continuous.read_view(%L::uuid) AS r(%s)',
				  name, definition, 'UTC', 'ISO, MDY', 'postgres', '00000000-0000-4000-8000-000000000001', columns)
$$;
SELECT * FROM expect_error(rs.body('rs.wrong_types', 'SELECT g, count(*) AS n FROM rs.items GROUP BY g', 'g int, n int'));
SELECT * FROM expect_error(rs.body('rs.wrong_count', 'SELECT g, count(*) AS n FROM rs.items GROUP BY g', 'g int'));
SELECT * FROM expect_error(rs.body('rs.not_maintainable', 'SELECT g FROM rs.items ORDER BY g', 'g int'));
SELECT rs.body('rs.by_hand', 'SELECT g, count(*) AS n FROM rs.items GROUP BY g', 'g int, n bigint') AS statement \gset
:statement;
SELECT continuous.sync();
SELECT name, state, contents_from, restored_at IS NOT NULL AS restored FROM continuous.views
WHERE name::text LIKE 'rs.%' ORDER BY name::text;
SELECT * FROM rs.by_hand ORDER BY g;
-- CREATE OR REPLACE with its own body changes nothing; with another
-- definition it is refused.
SELECT replace(:'statement', 'CREATE VIEW', 'CREATE OR REPLACE VIEW') AS statement \gset
:statement;
SELECT count(*) AS views_of_key FROM continuous.views WHERE name = 'rs.by_hand'::regclass;
SELECT * FROM expect_error(replace(:'statement', 'count(*)', 'sum(g)'));
-- A body with a memory cap (create_view's max_memory) keeps it; a cap that
-- is not a positive constant is refused.
SELECT replace(replace(replace(:'statement', 'rs.by_hand', 'rs.capped'),
					   '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'),
			   'AS intervalstyle)', 'AS intervalstyle, ''65536''::bigint AS max_memory)') AS capped \gset
:capped;
SELECT * FROM expect_error(replace(replace(:'capped', 'rs.capped', 'rs.bad_cap'), '''65536''', '''-1'''));
SELECT c.relname, v.max_memory FROM pg_class c LEFT JOIN continuous.views v ON v.name = c.oid::regclass
WHERE c.relname IN ('capped', 'bad_cap') ORDER BY 1;
-- A rename is followed by the body, as by any view's.
ALTER TABLE rs.items RENAME COLUMN price TO amount;
SELECT pg_get_viewdef('rs.by_g'::regclass) LIKE '%sum(items.amount) AS total%' AS body_follows_rename;
-- Its dependencies are the definition's, as for create_view.
SELECT * FROM expect_error('ALTER TABLE rs.items DROP COLUMN g');
SELECT * FROM expect_error('ALTER TABLE rs.items ALTER COLUMN amount TYPE float8');

-- continuous.checkpoint() returns once a checkpoint holds every commit before it.
INSERT INTO rs.items VALUES (7, 7);
SELECT continuous.checkpoint() >= pg_current_wal_lsn() - 100000 AS checkpointed;
SELECT * FROM expect_error($$SELECT continuous.checkpoint('-1 s')$$);

SET client_min_messages = warning;
DROP SCHEMA rs CASCADE;
RESET client_min_messages;
DROP FUNCTION expect_error(text);
