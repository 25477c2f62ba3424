ALTER TABLE `actors` ADD `synced_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `actors` ADD `local_only_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `actors` ADD `s3_only_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `actors` ADD `out_of_sync_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `actors` ADD `missing_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `actors` ADD `unchecked_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `generations` ADD `image_rows` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `generations` ADD `image_bytes` integer DEFAULT 0 NOT NULL;