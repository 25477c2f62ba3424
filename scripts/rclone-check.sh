#!/usr/bin/env bash
# What an independent tool says of the sync (issue 10's bar): `rclone check --combined` of every
# actor folder against its S3 prefix, for every actor that has either, manifests excluded.
# Usage: scripts/rclone-check.sh ENDPOINT DATA_DIR [BUCKET] [PREFIX]
#   e.g. with `npm start` running: scripts/rclone-check.sh http://127.0.0.1:PORT ./data
#   (the embedded S3's port is in serve's first lines; its keys are S3RVER/S3RVER).
# Prints each actor with differences (rclone's marks: - only local, + only in S3, * differ),
# then the total; exits 1 when any difference is found, 2 when the bucket cannot be read.
set -u
# rclone's S3 client refuses to start when AWS_CA_BUNDLE is set for another tool.
unset AWS_CA_BUNDLE
endpoint=$1 data=$2 bucket=${3:-story-boards-assets} prefix=${4:-system_actors/training_data/}
export RCLONE_CONFIG_AM_TYPE=s3 RCLONE_CONFIG_AM_PROVIDER=Other RCLONE_CONFIG_AM_ENDPOINT=$endpoint \
  RCLONE_CONFIG_AM_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-S3RVER} RCLONE_CONFIG_AM_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-S3RVER} \
  RCLONE_CONFIG_AM_FORCE_PATH_STYLE=true
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
total=0 actors=0
# A bucket rclone cannot read would look like an empty one: stop instead.
if ! rclone lsf "am:$bucket" --max-depth 1 --retries 1 --low-level-retries 1 >/dev/null; then
  echo "rclone cannot list s3://$bucket at $endpoint" >&2
  exit 2
fi
# Names starting with "." (the trash prefix) are not actors.
names=$( (ls "$data/actors"; rclone lsf --dirs-only "am:$bucket/$prefix" | sed 's#/$##') | grep -v '^\.' | sort -u)
for actor in $names; do
  actors=$((actors + 1))
  folder="$data/actors/$actor/training_data"
  [ -d "$folder" ] || folder=$empty
  differences=$(rclone check "$folder" "am:$bucket/$prefix$actor" --exclude "*.json" --exclude ".*" --combined - 2>/dev/null | grep -v '^=')
  count=$(printf "%s" "$differences" | grep -c .)
  if [ "$count" -gt 0 ]; then
    echo "$actor: $count differences"
    printf "%s\n" "$differences"
  fi
  total=$((total + count))
done
echo "rclone check: $actors actor folders/prefixes, $total differences"
[ "$total" -eq 0 ]
