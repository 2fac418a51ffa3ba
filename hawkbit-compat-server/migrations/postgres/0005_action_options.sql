-- Assignment options of hawkBit's management API that change what a device is told: weight,
-- maintenance window, and the user-consent flow (actions waiting for confirmation, and a
-- per-target auto-confirm switch). Twin of ../sqlite/0005_action_options.sql.

ALTER TABLE action ADD COLUMN weight BIGINT;
-- Quartz cron expression, duration (HH:MM:SS) and UTC offset (+HH:MM), as the operator gave
-- them; all NULL when the action has no maintenance window.
ALTER TABLE action ADD COLUMN maintenance_schedule TEXT;
ALTER TABLE action ADD COLUMN maintenance_duration TEXT;
ALTER TABLE action ADD COLUMN maintenance_timezone TEXT;

-- Auto-confirm: while active, new actions of the target skip waiting for confirmation.
ALTER TABLE target ADD COLUMN auto_confirm_active BIGINT NOT NULL DEFAULT 0;
ALTER TABLE target ADD COLUMN auto_confirm_initiator TEXT;
ALTER TABLE target ADD COLUMN auto_confirm_remark TEXT;
ALTER TABLE target ADD COLUMN auto_confirm_at BIGINT;
