-- usercenter schema, version 3: the consumer's dedupe high waters (per topic, partition and
-- producer id: the highest sequence handled) get a table of their own. Version 2 kept them as
-- rows of meta named 'offsets/h/<topic>/<partition>/<producer>' with the service's encoded
-- value; src/pgstore/migrate.rs moves those rows here in this same transaction.
CREATE TABLE consumer_high_waters (
    topic     text    NOT NULL,
    partition integer NOT NULL,
    -- The u64 producer id's bits (the ids the service makes are below 2^63: read as themselves).
    producer  bigint  NOT NULL,
    -- The highest sequence handled, the u64's bits likewise.
    sequence  bigint  NOT NULL,
    -- When it last moved (ms since the epoch).
    seen_ms   bigint  NOT NULL,
    PRIMARY KEY (topic, partition, producer)
);
