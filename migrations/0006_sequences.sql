-- usercenter schema, version 6: the outbox and event counters become sequences, so that
-- concurrent writers no longer conflict over the counter rows of `meta` (see
-- src/pgstore/sequences.rs). The migration's own step then starts each sequence where its
-- counter left off and marks the old rows as moved: an instance of an older version fails its
-- writes instead of reusing numbers. Stop every older instance before this version starts.
CREATE SEQUENCE usercenter_outbox_seq AS bigint MINVALUE 0 START WITH 0;
CREATE SEQUENCE usercenter_event_seq AS bigint MINVALUE 0 START WITH 0;
