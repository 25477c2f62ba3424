CREATE TABLE `actor_changes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`actor_id` integer,
	`name` text NOT NULL,
	`reason` text NOT NULL,
	`job_id` integer,
	`owner_id` text NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `actor_locks` (
	`actor_id` integer PRIMARY KEY NOT NULL,
	`owner_id` text NOT NULL,
	`acquired_at` text NOT NULL,
	FOREIGN KEY (`actor_id`) REFERENCES `actors`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `manifest_writes` (
	`path` text PRIMARY KEY NOT NULL,
	`content_hash` text NOT NULL,
	`started_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `process_leases` (
	`owner_id` text PRIMARY KEY NOT NULL,
	`pid` integer NOT NULL,
	`host` text NOT NULL,
	`command` text NOT NULL,
	`started_at` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `intents` ADD `owner_id` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `owner_id` text;