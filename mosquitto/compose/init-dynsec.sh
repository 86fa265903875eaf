#!/bin/sh
# First start of the compose broker: create the dynamic-security file with the admin
# account from the environment. Later starts keep the file (and every account in it).
set -eu
file=/mosquitto/data/dynamic-security.json
: "${MOSQUITTO_ADMIN_USERNAME:?set MOSQUITTO_ADMIN_USERNAME (see .env.example)}"
: "${MOSQUITTO_ADMIN_PASSWORD:?set MOSQUITTO_ADMIN_PASSWORD (see .env.example)}"
if [ -s "$file" ]; then
    echo "init-dynsec: $file exists; keeping its accounts"
    exit 0
fi
umask 077
mosquitto_ctrl dynsec init "$file" "$MOSQUITTO_ADMIN_USERNAME" "$MOSQUITTO_ADMIN_PASSWORD"
# The broker drops root and runs as the image's mosquitto user.
chown mosquitto:mosquitto "$file" 2>/dev/null || true
echo "init-dynsec: created $file with admin account $MOSQUITTO_ADMIN_USERNAME"
