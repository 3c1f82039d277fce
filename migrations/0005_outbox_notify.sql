-- usercenter schema, version 5: every statement that writes outbox rows notifies the channel
-- `usercenter_outbox` (delivered when its transaction commits), so that the relay lease
-- holder wakes for rows another instance committed instead of finding them on its next idle
-- poll. Listeners: each instance's relay lease session (`LISTEN usercenter_outbox`).
CREATE FUNCTION usercenter_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('usercenter_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION usercenter_outbox_notify();
