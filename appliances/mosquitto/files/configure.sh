#!/bin/sh
# Applies mosquitto's settings at every start (run by `appliance apply`, before mosquitto starts;
# mosquitto does not start when this fails).
# $1 is an env file of shell-quoted KEY='value' lines: USERNAME, PASSWORD and APPLIANCE_CHANGED
# (the settings changed since last applied). The password file lives with the data
# (/var/lib/mosquitto/passwd, a custom volume when attached) and is written only when the user
# name or the password changed, or it is missing (first boot, a new volume): an account changed
# inside the instance (mosquitto_passwd) survives restarts and `incus rebuild`.
# The password is written only as a salted PBKDF2-SHA512 hash (mosquitto_passwd); it reaches
# mosquitto_passwd on stdin, never on a command line.
set -eu
. "$1"
username=${USERNAME:-}
password=${PASSWORD:-}
changed=${APPLIANCE_CHANGED-username password}
unset USERNAME PASSWORD APPLIANCE_CHANGED
file=/var/lib/mosquitto/passwd

install -d -m 0750 /var/lib/mosquitto
chown mosquitto:mosquitto /var/lib/mosquitto

# A persistence file of a newer format is never opened: mosquitto would exit at every start
# ("Unsupported persistent database format version"). Its header: 15 bytes of magic
# ("\0\265\0mosquitto db"), a CRC (4 bytes), then the format version (big-endian, 4 bytes).
# DB_MAX is the format mosquitto 2.0 writes (the image test "a save writes format ..." keeps it honest).
DB_MAX=6
db=/var/lib/mosquitto/mosquitto.db
if [ -s "$db" ]; then
  version=$(od -An -tu1 -j19 -N4 "$db" | awk '{ v = 0; for (i = 1; i <= NF; i++) v = v * 256 + $i; print v }')
  if [ "$(od -An -c -j3 -N12 "$db" | tr -d ' ')" != 'mosquittodb' ] || [ "${version:-0}" -gt "$DB_MAX" ]; then
    echo "$db is persistence format ${version:-unknown}; this image's mosquitto reads formats up to $DB_MAX and does not start on it." >&2
    echo "  Upgrade path: rebuild onto the mosquitto image that wrote it, or a newer one (incus rebuild <remote>:mosquitto <instance>); or move mosquitto.db aside to start without its retained messages and sessions." >&2
    exit 1
  fi
fi

write=0
case " $changed " in *" username "* | *" password "*) write=1 ;; esac
[ -e "$file" ] || write=1
[ "$write" = 1 ] || exit 0

if [ -n "$password" ]; then
  [ -n "$username" ] || { echo "user.mosquitto.password: given without user.mosquitto.username" >&2; exit 1; }
  # A user name of the password file: no ':' (its separator), no space or control character.
  case "$username" in
    *[!A-Za-z0-9._@-]*) echo "user.mosquitto.username: \"$username\": only letters, digits and . _ @ -" >&2; exit 1 ;;
  esac
  [ "${#username}" -le 64 ] || { echo "user.mosquitto.username: longer than 64 characters" >&2; exit 1; }
  # mosquitto_passwd reads one line: a newline would cut the password short.
  nl='
'
  case "$password" in *"$nl"*) echo "user.mosquitto.password: must be one line" >&2; exit 1 ;; esac
  [ "${#password}" -le 512 ] || { echo "user.mosquitto.password: longer than 512 characters" >&2; exit 1; }
  rm -f "$file.new"
  (umask 077 && : > "$file.new")
  # The password twice (entry and confirmation) on stdin.
  printf '%s\n%s\n' "$password" "$password" | mosquitto_passwd -c "$file.new" "$username" >/dev/null
else
  # No password: nobody can log in on 1883 (allow_anonymous false, empty password file).
  (umask 077 && : > "$file.new")
fi
chown mosquitto:mosquitto "$file.new"
chmod 0600 "$file.new"
mv "$file.new" "$file"
