DROP INDEX `images_status`;--> statement-breakpoint
DROP INDEX `images_good`;--> statement-breakpoint
DROP INDEX `images_generation`;