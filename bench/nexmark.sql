-- bench/nexmark.sql: a deterministic Nexmark-style event generator in SQL,
-- loaded into the Nexmark benchmark's database by bench/b6_nexmark.sh.
--
-- Event number n (0, 1, 2, ...) decides everything about an event:
--   * kind: in every block of 50 events, offset 0 is a person, offsets 1-3
--     are auctions, offsets 4-49 are bids (persons : auctions : bids =
--     1 : 3 : 46);
--   * ids: person n/50 + 1000, auctions (n/50)*3 + offset-1 + 1000, so ids
--     grow with the event count as in Nexmark;
--   * event time: 2024-01-01 00:00 UTC + n milliseconds;
--   * "random" choices: nx_rand(n, salt), a uniform number in [0, 1) made
--     from hashint8extended(n, salt), so every run produces the same events.
-- Bids follow Nexmark's skew: half of them go to the hot auction (the most
-- recent auction whose id is a multiple of 100), the rest to one of the 100
-- most recent auctions; three quarters come from the hot bidder (the most
-- recent person whose id is a multiple of 100, plus one), the rest from one
-- of the 1000 most recent persons.  Sellers are skewed the same way.
-- Prices are log-uniform between 1.00 and 1,000,000.00 (in cents:
-- 10^(6u) * 100).

CREATE FUNCTION nx_rand(n bigint, salt int) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (hashint8extended(n, salt) & 9007199254740991)::float8 / 9007199254740992.0;

CREATE FUNCTION nx_time(n bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN '2024-01-01 00:00:00+00'::timestamptz + n * interval '1 millisecond';

CREATE FUNCTION nx_price(n bigint, salt int) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN round(power(10.0::float8, nx_rand(n, salt) * 6.0) * 100.0)::bigint;

-- Base-0 id of the most recent person and auction at event n.
CREATE FUNCTION nx_last_person(n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN n / 50;

CREATE FUNCTION nx_last_auction(n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (n / 50) * 3 + least(greatest(n % 50 - 1, 0), 2);

-- A person id for event n: hot (3 in 4) or one of the 1000 most recent.
CREATE FUNCTION nx_person_for(n bigint, salt int) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN 1000 + CASE
	WHEN nx_rand(n, salt) < 0.75
		THEN least((nx_last_person(n) / 100) * 100 + 1, nx_last_person(n))
	ELSE greatest(nx_last_person(n) - 999, 0)
		 + floor(nx_rand(n, salt + 1) * least(nx_last_person(n) + 1, 1000))::bigint
END;

CREATE FUNCTION nx_persons(lo bigint, hi bigint)
RETURNS TABLE (id bigint, name text, email_address text, credit_card text,
			   city text, state text, date_time timestamptz, extra text)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT 1000 + n / 50,
		   (ARRAY['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter'])[1 + floor(nx_rand(n, 11) * 11)::int]
		   || ' ' || (ARRAY['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'])[1 + floor(nx_rand(n, 12) * 9)::int],
		   'p' || (n / 50) || '@example.com',
		   lpad((floor(nx_rand(n, 13) * 10000))::text, 4, '0') || ' ' || lpad((floor(nx_rand(n, 14) * 10000))::text, 4, '0'),
		   (ARRAY['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne'])[1 + floor(nx_rand(n, 15) * 10)::int],
		   (ARRAY['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'])[1 + floor(nx_rand(n, 16) * 6)::int],
		   nx_time(n),
		   repeat('x', floor(nx_rand(n, 17) * 40)::int)
	FROM generate_series(lo + (50 - lo % 50) % 50, hi, 50) AS n;
END;

CREATE FUNCTION nx_auctions(lo bigint, hi bigint)
RETURNS TABLE (id bigint, item_name text, description text, initial_bid bigint,
			   reserve bigint, date_time timestamptz, expires timestamptz,
			   seller bigint, category bigint, extra text)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT 1000 + nx_last_auction(n),
		   'item ' || nx_last_auction(n),
		   'description of item ' || nx_last_auction(n),
		   nx_price(n, 21),
		   nx_price(n, 21) + nx_price(n, 22),
		   nx_time(n),
		   nx_time(n) + floor(nx_rand(n, 23) * 20000) * interval '1 millisecond',
		   nx_person_for(n, 24),
		   10 + floor(nx_rand(n, 26) * 5)::bigint,
		   repeat('y', floor(nx_rand(n, 27) * 40)::int)
	FROM generate_series(lo, hi) AS n
	WHERE n % 50 BETWEEN 1 AND 3;
END;

CREATE FUNCTION nx_bids(lo bigint, hi bigint)
RETURNS TABLE (auction bigint, bidder bigint, price bigint, channel text,
			   url text, date_time timestamptz, extra text)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT 1000 + CASE
			   WHEN nx_rand(n, 31) < 0.5 THEN (nx_last_auction(n) / 100) * 100
			   ELSE greatest(nx_last_auction(n) - 99, 0)
					+ floor(nx_rand(n, 32) * least(nx_last_auction(n) + 1, 100))::bigint
		   END,
		   nx_person_for(n, 33),
		   nx_price(n, 35),
		   CASE WHEN nx_rand(n, 36) < 0.9
				THEN (ARRAY['Google', 'Facebook', 'Baidu', 'Apple'])[1 + floor(nx_rand(n, 37) * 4)::int]
				ELSE 'channel-' || floor(nx_rand(n, 38) * 10000)::int
		   END,
		   'https://www.nexmark.com/item.htm?query=1&channel_id=' || floor(nx_rand(n, 39) * 10000)::int,
		   nx_time(n),
		   repeat('z', floor(nx_rand(n, 40) * 40)::int)
	FROM generate_series(lo, hi) AS n
	WHERE n % 50 >= 4;
END;
