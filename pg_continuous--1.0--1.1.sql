/* pg_continuous--1.0--1.1.sql: what 1.1 changes in 1.0's objects */

\echo Use "ALTER EXTENSION pg_continuous UPDATE TO '1.1'" to load this file. \quit

-- create_stream parses its column list as the elements of one CREATE FOREIGN
-- TABLE statement and runs the parsed statement; 1.0 spliced the text into
-- the statement it executed, so a column list could run any SQL.
CREATE OR REPLACE FUNCTION continuous.create_stream(name text, columns text)
RETURNS regclass LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'continuous_create_stream';
