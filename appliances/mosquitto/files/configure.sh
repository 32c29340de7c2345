#!/bin/sh
# Applies mosquitto's settings at every start (run by `appliance apply`, before mosquitto starts;
# mosquitto does not start when this fails).
# $1 is an env file of shell-quoted KEY='value' lines: USERNAME, PASSWORD and APPLIANCE_CHANGED
# (the settings changed since last applied). The password file is written only when the user
# name or the password changed, or the image's one is still there (first boot, rebuild): an
# account changed inside the instance (mosquitto_passwd) survives restarts.
# The password is written only as a salted PBKDF2-SHA512 hash (mosquitto_passwd); it reaches
# mosquitto_passwd on stdin, never on a command line.
set -eu
. "$1"
username=${USERNAME:-}
password=${PASSWORD:-}
changed=${APPLIANCE_CHANGED-username password}
unset USERNAME PASSWORD APPLIANCE_CHANGED
file=/etc/mosquitto/passwd
applied=/etc/mosquitto/.passwd-applied

install -d -m 0750 /var/lib/mosquitto
chown mosquitto:mosquitto /var/lib/mosquitto

case " $changed " in *" username "* | *" password "*) rm -f "$applied" ;; esac
[ ! -e "$applied" ] || exit 0

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
touch "$applied"
