CREATE TABLE `trash_items` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`actor_id` integer NOT NULL,
	`actor_name` text NOT NULL,
	`filename` text NOT NULL,
	`side` text NOT NULL,
	`origin` text NOT NULL,
	`original_location` text NOT NULL,
	`trash_location` text,
	`version_id` text,
	`md5` text,
	`size_bytes` integer DEFAULT 0 NOT NULL,
	`state` text NOT NULL,
	`trashed_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `trash_items_actor` ON `trash_items` (`actor_id`);