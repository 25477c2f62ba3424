CREATE TABLE `actors` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`character_id` text,
	`name` text NOT NULL,
	`descriptor` text,
	`age` integer,
	`gender` text,
	`manifest_updated_at` text,
	`last_checked_at` text,
	`revision` integer DEFAULT 0 NOT NULL,
	`exported_revision` integer DEFAULT 0 NOT NULL,
	`total_count` integer DEFAULT 0 NOT NULL,
	`synced_count` integer DEFAULT 0 NOT NULL,
	`local_only_count` integer DEFAULT 0 NOT NULL,
	`s3_only_count` integer DEFAULT 0 NOT NULL,
	`out_of_sync_count` integer DEFAULT 0 NOT NULL,
	`missing_count` integer DEFAULT 0 NOT NULL,
	`unchecked_count` integer DEFAULT 0 NOT NULL,
	`good_count` integer DEFAULT 0 NOT NULL,
	`bad_count` integer DEFAULT 0 NOT NULL,
	`unrated_count` integer DEFAULT 0 NOT NULL,
	`total_size_bytes` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `actors_name_unique` ON `actors` (`name`);--> statement-breakpoint
CREATE INDEX `actors_character_id` ON `actors` (`character_id`);--> statement-breakpoint
CREATE INDEX `actors_good_count` ON `actors` (`good_count`);--> statement-breakpoint
CREATE TABLE `generations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`actor_id` integer NOT NULL,
	`generation_key` integer NOT NULL,
	`type` text NOT NULL,
	`generated_at` text,
	`image_count` integer DEFAULT 0 NOT NULL,
	`metadata` text,
	FOREIGN KEY (`actor_id`) REFERENCES `actors`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `generations_actor_key` ON `generations` (`actor_id`,`generation_key`);--> statement-breakpoint
CREATE INDEX `generations_type` ON `generations` (`type`);--> statement-breakpoint
CREATE TABLE `hash_cache` (
	`path` text PRIMARY KEY NOT NULL,
	`size_bytes` integer NOT NULL,
	`mtime_ms` real NOT NULL,
	`inode` integer NOT NULL,
	`md5` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `images` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`actor_id` integer NOT NULL,
	`filename` text NOT NULL,
	`index` integer,
	`s3_key` text,
	`s3_url` text,
	`local_path` text,
	`md5` text,
	`size_bytes` integer,
	`modified_at` text,
	`modified_timestamp` real,
	`prompt` text,
	`prompt_preview` text,
	`generated_at` text,
	`generation_id` integer,
	`source` text,
	`status` text,
	`good` integer,
	`checked_at` text,
	`local_size` integer,
	`local_mtime_ms` real,
	`s3_etag` text,
	`s3_size` integer,
	`s3_last_modified` text,
	`s3_md5` text,
	`orphan` integer DEFAULT false NOT NULL,
	FOREIGN KEY (`actor_id`) REFERENCES `actors`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`generation_id`) REFERENCES `generations`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `images_actor_filename` ON `images` (`actor_id`,`filename`);--> statement-breakpoint
CREATE INDEX `images_status` ON `images` (`status`);--> statement-breakpoint
CREATE INDEX `images_good` ON `images` (`good`);--> statement-breakpoint
CREATE INDEX `images_generation` ON `images` (`generation_id`);--> statement-breakpoint
CREATE TABLE `source_files` (
	`path` text PRIMARY KEY NOT NULL,
	`actor_id` integer,
	`format` text NOT NULL,
	`size_bytes` integer NOT NULL,
	`mtime_ms` real NOT NULL,
	`content_hash` text NOT NULL,
	`error` text,
	`imported_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`actor_id`) REFERENCES `actors`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `source_files_actor` ON `source_files` (`actor_id`);