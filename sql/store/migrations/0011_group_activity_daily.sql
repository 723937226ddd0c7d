-- Migration 11: account health (docs/tables.md, README "Account health").
-- group_activity_daily: one row per (group, date) from the group's first
-- attributed event to the last loaded day; refreshed by the day run
-- (sql/model/refresh_group_activity.sql). A warehouse upgraded to this version
-- gets the whole table built by its next day run (every group is new to it).
CREATE TABLE IF NOT EXISTS group_activity_daily (
    activity_date      DATE NOT NULL,
    group_key          VARCHAR NOT NULL,
    group_id           VARCHAR NOT NULL,
    events             BIGINT NOT NULL,     -- deduplicated, attributed events that day
    active_users       BIGINT NOT NULL,     -- distinct users that day
    active_users_7d    BIGINT NOT NULL,     -- distinct users, this day and the 6 before
    active_users_28d   BIGINT NOT NULL,     -- distinct users, this day and the 27 before
    new_users          BIGINT NOT NULL,     -- users whose first event for the group is this day
    days_since_active  INTEGER NOT NULL,    -- 0 on an active day
    lifecycle          VARCHAR NOT NULL,    -- new, returning, resurrected, dormant
    churned            BOOLEAN NOT NULL     -- dormant for GROUP_ETL_CHURN_DAYS days or more
);

-- (extra) The first date each user was active for each group: what new_users
-- counts, kept so that a day's refresh never scans the whole history.
CREATE TABLE IF NOT EXISTS group_user_first_days (
    group_key    VARCHAR NOT NULL,
    group_id     VARCHAR NOT NULL,
    distinct_id  VARCHAR NOT NULL,
    first_date   DATE NOT NULL
);

-- (extra) The ids of a static cohort (`cohorts add NAME --static FILE`), one
-- row per member, exactly as given; the cohort's definition says "static".
CREATE TABLE IF NOT EXISTS cohort_members (
    cohort     VARCHAR NOT NULL,
    member_id  VARCHAR NOT NULL
);
