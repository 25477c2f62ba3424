CREATE TABLE `audit_bases` (
	`actor_id` integer PRIMARY KEY NOT NULL,
	`revision` integer NOT NULL,
	`local_digest` text NOT NULL,
	`s3_digest` text,
	`untracked_local` text DEFAULT '[]' NOT NULL,
	`untracked_s3` text DEFAULT '[]' NOT NULL,
	FOREIGN KEY (`actor_id`) REFERENCES `actors`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `actors` ADD `s3_listed_at` text;