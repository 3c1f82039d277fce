-- usercenter schema, version 2: user names and e-mail addresses are unique ignoring case by
-- the key the service computes (users::lookup_key: full-Unicode lower case), kept in its own
-- column, no longer by the database's lower(), which folds differently (only ASCII under the C
-- locale, no final sigma under any). Lookups and the unique indexes use these columns, so the
-- service and the database agree on which two names are the same.
ALTER TABLE users ADD COLUMN username_key text, ADD COLUMN email_key text;
-- Right for ASCII; src/pgstore/migrate.rs re-keys the other rows in this same transaction.
UPDATE users SET username_key = lower(username), email_key = lower(email);
ALTER TABLE users ALTER COLUMN username_key SET NOT NULL, ALTER COLUMN email_key SET NOT NULL;
DROP INDEX users_username_key;
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_email_key ON users (email_key);
