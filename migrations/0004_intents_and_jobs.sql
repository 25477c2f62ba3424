CREATE TABLE `intents` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`actor_id` integer NOT NULL,
	`filename` text NOT NULL,
	`operation` text NOT NULL,
	`detail` text,
	`state` text DEFAULT 'pending' NOT NULL,
	`error` text,
	`created_at` text NOT NULL,
	`settled_at` text,
	FOREIGN KEY (`actor_id`) REFERENCES `actors`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `intents_pending` ON `intents` (`state`,`actor_id`);--> statement-breakpoint
CREATE TABLE `job_actors` (
	`job_id` integer NOT NULL,
	`actor_id` integer,
	`actor_name` text NOT NULL,
	`state` text NOT NULL,
	`outcome` text,
	`error` text,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`actor_id`) REFERENCES `actors`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `job_actors_job_actor` ON `job_actors` (`job_id`,`actor_name`);--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`state` text NOT NULL,
	`params` text,
	`dry_run` integer DEFAULT false NOT NULL,
	`actors_total` integer DEFAULT 0 NOT NULL,
	`actors_done` integer DEFAULT 0 NOT NULL,
	`bytes_total` integer DEFAULT 0 NOT NULL,
	`bytes_done` integer DEFAULT 0 NOT NULL,
	`started_at` text NOT NULL,
	`finished_at` text,
	`error` text
);
