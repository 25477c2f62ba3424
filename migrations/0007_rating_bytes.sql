ALTER TABLE `actors` ADD `good_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `actors` ADD `bad_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `actors` ADD `unrated_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Existing actors get their bytes by rating now, not at their next change.
UPDATE `actors` SET (`good_bytes`, `bad_bytes`, `unrated_bytes`) = (
  SELECT coalesce(sum(CASE WHEN `good` = 1 THEN `size_bytes` END), 0),
    coalesce(sum(CASE WHEN `good` = 0 THEN `size_bytes` END), 0),
    coalesce(sum(CASE WHEN `good` IS NULL THEN `size_bytes` END), 0)
  FROM `images` WHERE `images`.`actor_id` = `actors`.`id`);
