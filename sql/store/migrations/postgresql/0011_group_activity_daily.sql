-- Migration 11, PostgreSQL indexes: a group's rows (refresh, groups show), a
-- day's rows (report lifecycle, cohorts as of a day), a user's first day.
CREATE INDEX IF NOT EXISTS group_activity_daily_group ON group_activity_daily (group_key, group_id, activity_date);
CREATE INDEX IF NOT EXISTS group_activity_daily_date ON group_activity_daily (activity_date);
CREATE INDEX IF NOT EXISTS group_user_first_days_user ON group_user_first_days (group_key, group_id, distinct_id);
CREATE INDEX IF NOT EXISTS cohort_members_cohort ON cohort_members (cohort, member_id);
