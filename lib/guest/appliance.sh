#!/bin/sh
# appliance: the in-image command of every appliance, installed as /usr/local/bin/appliance.
# The same script in every image; what differs is the generated data file it sources
# (settings.sh: the appliance's settings and their kinds, its volume, services and health check),
# written by the compiler (lib/compile/settings.ts, lib/compile/setting-kinds.ts).
#
#   appliance check    check the settings against their kinds; exit 1 when one is invalid
#   appliance apply    at every start, before the services (unit appliance-settings): check,
#                      verify the data volume belongs to this instance, run the appliance's
#                      configure script with the settings (APPLIANCE_CHANGED: those that changed
#                      since last applied), remove secrets from disk. Non-zero: services stay down.
#   appliance status   each setting (secrets masked) and whether it is applied, unknown
#                      user.<app>.* keys, the volume owner, the last apply, the health check;
#                      exit 1 when not healthy
#   appliance health   exit 0 only when the settings were applied and the health check passes
#
# POSIX sh (Debian dash, Alpine busybox). Values are data: never evaluated, only compared,
# matched with grep and written to files.
set -u
LC_ALL=C
export LC_ALL
LIB=${APPLIANCE_LIB:-/usr/local/lib/appliance}
ETC=${APPLIANCE_ETC:-/etc/appliance}
RUN=${APPLIANCE_RUN:-/run/appliance}
APP='' KEYS='' VOLUME='' STATE='' HEALTH='true' SERVICES='' INIT=systemd
. "$LIB/settings.sh"
CR=$(printf '\r')

# --- the generated rules -------------------------------------------------------------------
envname() { printf '%s' "$1" | tr 'a-z.-' 'A-Z__'; }
# The rule variable $2 of setting env name $1 (names come from the generated file, never values).
rule_var() { eval "printf '%s' \"\${S_$1_$2:-}\""; }
has_value() { [ -f "$ETC/settings.d/$1" ]; }
value() { cat "$ETC/settings.d/$1" 2>/dev/null || :; }

# check_value KEY VALUE: prints the rule and returns 1 when VALUE breaks it.
check_value() {
  e=$(envname "$1")
  v=$2
  kind=$(rule_var "$e" kind)
  rule=$(rule_var "$e" rule)
  if [ -z "$v" ]; then
    [ "$(rule_var "$e" required)" = 1 ] && { echo "required: $rule"; return 1; }
    return 0
  fi
  if [ "$kind" != pem ]; then
    [ "$(printf '%s' "$v" | wc -l)" -eq 0 ] || { echo "$rule"; return 1; }
    case $v in *"$CR"*) echo "$rule"; return 1 ;; esac
  fi
  case $kind in
    string)
      max=$(rule_var "$e" maxlen)
      [ -z "$max" ] || [ "$(printf '%s' "$v" | wc -c)" -le "$max" ] || { echo "$rule"; return 1; } ;;
    integer)
      printf '%s\n' "$v" | grep -Eqx -- '-?[0-9]{1,15}' || { echo "$rule"; return 1; }
      min=$(rule_var "$e" min)
      max=$(rule_var "$e" max)
      { [ -z "$min" ] || [ "$v" -ge "$min" ]; } && { [ -z "$max" ] || [ "$v" -le "$max" ]; } || { echo "$rule"; return 1; } ;;
    boolean)
      [ "$v" = true ] || [ "$v" = false ] || { echo "$rule"; return 1; } ;;
    enum)
      for w in $(rule_var "$e" values); do [ "$v" = "$w" ] && return 0; done
      echo "$rule"; return 1 ;;
    pattern | size | duration | email)
      printf '%s\n' "$v" | grep -Eqx -- "($(rule_var "$e" pattern))" || { echo "$rule"; return 1; } ;;
    cidrs | hostports)
      # Items separated by spaces or commas, at least one, each matching the pattern.
      list=$(printf '%s\n' "$v" | tr ', ' '\n\n' | grep -v '^$')
      [ -n "$list" ] && ! printf '%s\n' "$list" | grep -Evxq -- "($(rule_var "$e" pattern))" || { echo "$rule"; return 1; } ;;
    hostnames)
      ! printf '%s\n' "$v" | tr ',' '\n' | grep -Evxq -- "($(rule_var "$e" pattern))" || { echo "$rule"; return 1; } ;;
    pem)
      printf '%s\n' "$v" | grep -Eq -- '^-----BEGIN [A-Z0-9 ]+-----$' && printf '%s\n' "$v" | grep -Eq -- '^-----END [A-Z0-9 ]+-----$' || { echo "$rule"; return 1; } ;;
    *) echo "unknown kind $kind"; return 1 ;;
  esac
  return 0
}

# Every invalid setting, one line each: "user.<app>.<key>: <rule>".
problems() {
  for k in $KEYS; do
    has_value "$k" || continue
    r=$(check_value "$k" "$(value "$k")") || echo "user.$APP.$k: $r"
  done
}

# user.<app>.* keys that are not settings: from the guest API when it answers, else the
# list Incus rendered at start.
unknown_keys() {
  {
    if [ -S /dev/incus/sock ] && command -v curl >/dev/null 2>&1; then
      curl -fsS --max-time 5 --unix-socket /dev/incus/sock http://incus/1.0/config 2>/dev/null \
        | tr ',' '\n' | sed -n 's|.*"/1.0/config/\(user\.[^"]*\)".*|\1|p'
    fi
    cat "$ETC/keys" 2>/dev/null
  } | while read -r key; do
    case $key in "user.$APP."*) ;; *) continue ;; esac
    known=0
    for k in $KEYS; do [ "$key" = "user.$APP.$k" ] && known=1; done
    [ "$known" = 1 ] || echo "$key"
  done | sort -u
}

# --- output --------------------------------------------------------------------------------
# To stderr (the journal when run by the unit) and, from `apply`, the console
# (`incus console --show-log`).
say() {
  printf 'appliance %s: %s\n' "$APP" "$*" >&2
  if [ "${TO_CONSOLE:-0}" = 1 ] && [ -w /dev/console ]; then
    printf 'appliance %s: %s\n' "$APP" "$*" > /dev/console 2>/dev/null || :
  fi
}

# --- the data volume's owner ---------------------------------------------------------------
identity_name() { n=$(sed -n 1p "$ETC/instance" 2>/dev/null); [ -n "$n" ] || n=$(hostname); printf '%s' "$n"; }
identity_uuid() { sed -n 2p "$ETC/instance" 2>/dev/null; }
is_mount() { awk -v p="$1" '$5 == p { f = 1 } END { exit !f }' /proc/self/mountinfo 2>/dev/null; }

# Prints why this instance may not use the volume, returns 1; or records it as the owner.
owner_check() {
  [ -n "$VOLUME" ] || return 0
  name=$(identity_name)
  uuid=$(identity_uuid)
  mark=$STATE/owner
  if [ -f "$mark" ] && is_mount "$VOLUME"; then
    oname=$(sed -n 1p "$mark")
    ouuid=$(sed -n 2p "$mark")
    if [ "$oname" != "$name" ] || { [ -n "$ouuid" ] && [ -n "$uuid" ] && [ "$ouuid" != "$uuid" ]; }; then
      adopt=$(value adopt-volume)
      if [ -n "$adopt" ] && [ "$adopt" = "$oname" ]; then
        say "adopting the data volume at $VOLUME from instance $oname (user.$APP.adopt-volume)"
      else
        dev=$(sed -n 1p "$ETC/volume" 2>/dev/null); pool=$(sed -n 2p "$ETC/volume" 2>/dev/null); src=$(sed -n 3p "$ETC/volume" 2>/dev/null)
        [ -n "$dev" ] && [ -n "$pool" ] && [ -n "$src" ] || { dev=DEVICE pool=POOL src=VOLUME; }
        cat <<EOF
the data volume at $VOLUME belongs to instance "$oname"${ouuid:+ (uuid $ouuid)}, not to this one ("$name"${uuid:+, uuid $uuid}): the service is not started, so two servers never share one data directory.
  To give this instance its own copy (stop $oname first for a consistent copy):
    incus storage volume copy $pool/$src $pool/$src-$name && incus config device set $name $dev source=$src-$name && incus restart $name
  To take the volume over deliberately (after a rename, a move, or a deleted instance):
    incus config set $name user.$APP.adopt-volume=$oname && incus restart $name
EOF
        return 1
      fi
    fi
  fi
  printf '%s\n%s\n' "$name" "$uuid" > "$mark.new" && mv "$mark.new" "$mark"
}

# --- applied settings: a salted hash of each applied value, kept with the data ----------------
salt() {
  [ -s "$STATE/salt" ] || { od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$STATE/salt.new" && mv "$STATE/salt.new" "$STATE/salt"; }
  cat "$STATE/salt"
}
value_hash() { printf '%s\n%s\n%s' "$(salt)" "$1" "$2" | sha256sum | cut -d' ' -f1; }
applied_hash() { cat "$STATE/applied/$1" 2>/dev/null || :; }

remove_secrets() {
  for k in $KEYS; do
    [ "$(rule_var "$(envname "$k")" secret)" = 1 ] && rm -f "$ETC/settings.d/$k"
  done
  :
}

record() {
  printf '%s\n%s\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$RUN/result.new"
  [ -z "${2:-}" ] || printf '%s\n' "$2" >> "$RUN/result.new"
  mv "$RUN/result.new" "$RUN/result"
}

fail() {
  remove_secrets
  record failed "$1"
  printf '%s\n' "$1" | while IFS= read -r line; do say "$line"; done
  say "NOT STARTED: fix the setting (incus config set ...) and restart the instance; details: appliance status"
  exit 1
}

do_apply() {
  TO_CONSOLE=1
  umask 077
  mkdir -p "$RUN" "$STATE/applied"
  chmod 0700 "$RUN" "$STATE"
  u=$(unknown_keys)
  [ -z "$u" ] || say "warning: not settings of $APP, ignored: $(echo $u)"
  p=$(problems)
  [ -z "$p" ] || fail "$(printf '%s\n' "$p" | sed 's/$/ (the value was not applied)/')"
  o=$(owner_check) || fail "$o"
  # The settings file of configure, and which values changed since last applied.
  env=$RUN/settings.env
  : > "$env"
  changed=''
  for k in $KEYS; do
    has_value "$k" || continue
    v=$(value "$k")
    [ "$(applied_hash "$k")" = "$(value_hash "$k" "$v")" ] || changed="$changed $k"
    [ "$k" = adopt-volume ] && continue
    printf "%s='%s'\n" "$(envname "$k")" "$(printf '%s' "$v" | sed "s/'/'\\\\''/g")" >> "$env"
  done
  printf "APPLIANCE_CHANGED='%s'\n" "${changed# }" >> "$env"
  status=0
  if [ -x "$LIB/configure" ]; then
    # Not /tmp: this runs early in the boot, while systemd-tmpfiles-setup may be emptying it.
    # Sticky and world-writable like /tmp: a daemon configure starts drops to its own user
    # (mariadbd as mysql writes its temporary files there).
    rm -rf "$RUN-tmp" && mkdir -m 1777 "$RUN-tmp"
    TMPDIR=$RUN-tmp "$LIB/configure" "$env" 2> "$RUN/configure.err" || status=$?
    cat "$RUN/configure.err" >&2
    rm -rf "$RUN-tmp"
  fi
  rm -f "$env"
  [ "$status" -eq 0 ] || fail "configure failed (exit $status): $(tail -n 5 "$RUN/configure.err")"
  for k in $changed; do
    value_hash "$k" "$(value "$k")" > "$STATE/applied/$k.new" && mv "$STATE/applied/$k.new" "$STATE/applied/$k"
  done
  remove_secrets
  record ok
  say "settings applied${changed:+ (changed:$changed)}"
}

do_check() {
  u=$(unknown_keys)
  [ -z "$u" ] || printf 'warning: not a setting of %s: %s\n' "$APP" $u
  p=$(problems)
  [ -z "$p" ] || { printf '%s\n' "$p"; return 1; }
  echo "settings of $APP: valid"
}

health_reason() {
  if [ ! -f "$RUN/result" ]; then echo "the settings were not applied yet (unit appliance-settings)"; return 1; fi
  if [ "$(sed -n 1p "$RUN/result")" != ok ]; then
    echo "settings not applied, the service was not started: $(sed -n '3,$p' "$RUN/result" | head -n 1)"
    return 1
  fi
  out=$(sh -c "$HEALTH" 2>&1) || { echo "health check failed: $HEALTH${out:+: $out}"; return 1; }
  return 0
}

do_health() {
  r=$(health_reason) || { echo "$r" >&2; return 1; }
  return 0
}

do_status() {
  echo "appliance $APP, instance $(identity_name)"
  echo "settings (user.$APP.*):"
  # On a volume of another instance the applied state is that instance's, not ours.
  foreign=''
  if [ -n "$VOLUME" ] && is_mount "$VOLUME" && [ -f "$STATE/owner" ] && [ "$(sed -n 1p "$STATE/owner")" != "$(identity_name)" ]; then
    foreign=$(sed -n 1p "$STATE/owner")
  fi
  for k in $KEYS; do
    e=$(envname "$k")
    secret=$(rule_var "$e" secret)
    if has_value "$k"; then
      v=$(value "$k")
      if [ "$secret" = 1 ]; then shown=$([ -n "$v" ] && echo '********' || echo '(empty)')
      else
        # One line per setting: a multi-line value (PEM, or a bad one) shows its first line.
        n=$(printf '%s\n' "$v" | wc -l)
        shown=$(printf '%s\n' "$v" | head -n 1)
        [ "$n" -le 1 ] || shown="$shown (+$((n - 1)) lines)"
        shown=${shown:-(empty)}
      fi
      if r=$(check_value "$k" "$v"); then
        h=$(applied_hash "$k")
        if [ -n "$foreign" ]; then state="not applied (the volume belongs to $foreign)"
        elif [ -z "$h" ]; then state='not applied'
        elif [ "$h" = "$(value_hash "$k" "$v")" ]; then state=applied
        else state='changed: not applied yet'; fi
      else
        state="INVALID: $r"
      fi
    else
      shown='(not on disk)'
      # A refused secret is removed too: the last apply's report still names it.
      refused=$(sed -n '3,$p' "$RUN/result" 2>/dev/null | grep -F "user.$APP.$k: " | head -n 1 | sed 's/^[^:]*: //; s/ (the value was not applied)$//')
      if [ -n "$refused" ]; then state="INVALID: $refused"
      elif [ -n "$(applied_hash "$k")" ]; then state='applied (secret removed from disk)'
      else state='not set'; fi
    fi
    printf '  %-28s %-24s %s\n' "user.$APP.$k" "$shown" "$state"
  done
  u=$(unknown_keys)
  [ -z "$u" ] || printf 'warning: unknown key %s: not a setting of %s, ignored\n' $u "$APP"
  if [ -n "$VOLUME" ]; then
    if ! is_mount "$VOLUME"; then echo "data: $VOLUME is in the root disk (not a custom volume: lost on rebuild)"
    elif [ "$(sed -n 1p "$STATE/owner" 2>/dev/null)" = "$(identity_name)" ]; then echo "data volume: $VOLUME, owned by this instance"
    else echo "data volume: $VOLUME, owned by $(sed -n 1p "$STATE/owner" 2>/dev/null)"; fi
  fi
  if [ -f "$RUN/result" ]; then
    echo "last apply: $(sed -n 1p "$RUN/result") at $(sed -n 2p "$RUN/result")"
    sed -n '3,$p' "$RUN/result" | sed 's/^/  /'
  else
    echo "last apply: none since boot"
  fi
  for s in $SERVICES; do
    if [ "$INIT" = systemd ]; then st=$(systemctl is-active "$s" 2>/dev/null); else st=$(rc-service "$s" status 2>/dev/null | sed 's/.*: //'); fi
    echo "service $s: ${st:-unknown}"
  done
  if r=$(health_reason); then echo "health: ok"; return 0; fi
  echo "health: FAIL: $r"
  return 1
}

case ${1:-status} in
  apply) do_apply ;;
  check) do_check ;;
  status) do_status ;;
  health) do_health ;;
  -h | --help | help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: appliance check|apply|status|health" >&2; exit 2 ;;
esac
