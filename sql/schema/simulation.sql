-- simulation: one row per generate (mode generate) or `generate --append-days`
-- (mode append) call: the simulated day range [first_day, last_day) counted
-- from start_date, and the config and drift scenario it ran with.
create table if not exists simulation (
    generated_at timestamp not null,
    mode varchar not null,
    seed varchar not null,
    start_date date not null,
    first_day integer not null,
    last_day integer not null,
    users_added bigint not null,
    events_added bigint not null,
    config_json json not null,
    drift_json json not null,
);
