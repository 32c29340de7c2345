#!/usr/bin/env bash
# Host set-up for the Incus Appliance Registry: installs and starts everything that building
# (distrobuilder, debootstrap, squashfs, qemu-user + binfmt) and testing (Incus 6, incus-extra,
# lxd-client on Debian 12) need. Root on Debian 12 (bookworm) or 13 (trixie). Idempotent: each
# step checks before acting and prints one line; a second run takes a few seconds.
#
# Usage: lib/host/setup.sh [--no-incus] [--print-mirror]
#   --no-incus      build-only host: skip installing, starting and initialising Incus
#   --print-mirror  print the derived Debian mirror URI and exit
# Environment:
#   APPLIANCE_DEBIAN_MIRROR  Debian mirror URI (default: derived from the host's apt sources)
#   APPLIANCE_BRIDGE_SUBNET  incusbr0 IPv4 address/prefix (default 10.87.13.1/24)
#   APPLIANCE_STORAGE        driver of the pool `default` when this creates it: auto (default:
#                            btrfs where the kernel has btrfs and a loop device can be set up,
#                            else dir), btrfs (a loop file of APPLIANCE_STORAGE_SIZE, default
#                            30GiB: each launch clones the image instead of unpacking it,
#                            docs/benchmarks.md) or dir; an existing pool is never changed
#
# The mirror logic is mirrored by lib/host/mirror.ts (keep both in step). No file of the project
# names a mirror host: the URI always comes from the host's apt configuration or the environment.
set -euo pipefail
export LC_ALL=C
export DEBIAN_FRONTEND=noninteractive

readonly STATE_DIR=/var/cache/appliance-registry
readonly TRIXIE_DIR=$STATE_DIR/trixie-apt
readonly LOG=$STATE_DIR/setup.log
readonly BACKPORTS_FILE=/etc/apt/sources.list.d/appliance-backports.sources
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
readonly BRIDGE_SUBNET=${APPLIANCE_BRIDGE_SUBNET:-10.87.13.1/24}
STORAGE=${APPLIANCE_STORAGE:-auto}
readonly STORAGE_SIZE=${APPLIANCE_STORAGE_SIZE:-30GiB}

die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }
done_() { printf '[+]  %s\n' "$*"; }   # did something
ok() { printf '[ok] %s\n' "$*"; }      # already done
skip() { printf '[-]  %s\n' "$*"; }    # skipped

usage() {
  sed -n '7,17p' "$0" | sed 's/^# \{0,1\}//'
}

NO_INCUS=0
PRINT_MIRROR=0
for arg in "$@"; do
  case $arg in
    --no-incus) NO_INCUS=1 ;;
    --print-mirror) PRINT_MIRROR=1 ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'setup.sh: unknown option %s\n' "$arg" >&2; usage >&2; exit 2 ;;
  esac
done

case $STORAGE in auto | dir | btrfs) ;; *) die "APPLIANCE_STORAGE must be auto, dir or btrfs, got '$STORAGE'" ;; esac
[[ $STORAGE_SIZE =~ ^[0-9]+[KMGT]iB$ ]] || die "APPLIANCE_STORAGE_SIZE must be a size such as 30GiB, got '$STORAGE_SIZE'"

# --- 1. host checks -----------------------------------------------------------------------------
os_field() { # os_field KEY -> value of KEY in /etc/os-release, unquoted
  sed -n "s/^$1=//p" /etc/os-release | head -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/"
}
[ -r /etc/os-release ] || die "refusing: /etc/os-release not found, this is not a Debian host"
OS_ID=$(os_field ID)
OS_VERSION=$(os_field VERSION_ID)
CODENAME=$(os_field VERSION_CODENAME)
[ "$OS_ID" = debian ] || die "refusing: host is '${OS_ID:-unknown}', not Debian (need Debian 12 or 13)"
case $OS_VERSION in
  12 | 13) ;;
  *) die "refusing: Debian '${OS_VERSION:-testing/unstable}' is not supported (need Debian 12 or 13)" ;;
esac
[ -n "$CODENAME" ] || die "refusing: VERSION_CODENAME missing from /etc/os-release"

# --- 2. Debian mirror URI -----------------------------------------------------------------------
# First URI of the first enabled deb822 stanza (Types has "deb") whose Suites contain the codename.
deb822_mirror() { # deb822_mirror CODENAME FILE...
  local codename=$1; shift
  awk -v codename="$codename" '
    function reset() { uri = ""; hasdeb = 0; hassuite = 0; enabled = 1; field = "" }
    function handle(f, v,    n, a, k) {
      n = split(v, a, " ")
      if (f == "uris") { if (uri == "" && n >= 1) uri = a[1] }
      else if (f == "types") { for (k = 1; k <= n; k++) if (a[k] == "deb") hasdeb = 1 }
      else if (f == "suites") { for (k = 1; k <= n; k++) if (a[k] == codename) hassuite = 1 }
      else if (f == "enabled") { if (n >= 1 && tolower(a[1]) == "no") enabled = 0 }
    }
    function flush() {
      if (!found && uri != "" && hasdeb && hassuite && enabled) { print uri; found = 1 }
      reset()
    }
    BEGIN { found = 0; reset() }
    found { exit }
    { sub(/\r$/, "") }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ { if (field != "") handle(field, $0); next }
    {
      i = index($0, ":")
      if (i == 0) { field = ""; next }
      field = tolower(substr($0, 1, i - 1)); handle(field, substr($0, i + 1))
    }
    END { flush() }
  ' "$@" 2>/dev/null | head -n 1
}
# URI of the first one-line "deb [options] URI SUITE ..." entry whose suite is the codename.
sources_list_mirror() { # sources_list_mirror CODENAME FILE
  awk -v codename="$1" '
    {
      sub(/\r$/, ""); sub(/#.*/, "")
      n = split($0, a, " ")
      if (n < 3 || a[1] != "deb") next
      k = 2
      if (substr(a[k], 1, 1) == "[") {
        while (k <= n && substr(a[k], length(a[k]), 1) != "]") k++
        k++
      }
      if (k + 1 <= n && a[k + 1] == codename) { print a[k]; exit }
    }
  ' "$2" 2>/dev/null | head -n 1
}
derive_mirror() {
  local override
  override=$(printf '%s' "${APPLIANCE_DEBIAN_MIRROR:-}" | tr -d '[:space:]')
  if [ -n "$override" ]; then
    MIRROR=$override; MIRROR_FROM="APPLIANCE_DEBIAN_MIRROR"; return
  fi
  local files=() f read=()
  for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && files+=("$f"); done
  for f in "${files[@]}"; do
    read+=("$f")
    MIRROR=$(deb822_mirror "$CODENAME" "$f")
    if [ -n "$MIRROR" ]; then MIRROR_FROM=$f; return; fi
  done
  if [ -f /etc/apt/sources.list ]; then
    read+=(/etc/apt/sources.list)
    MIRROR=$(sources_list_mirror "$CODENAME" /etc/apt/sources.list)
    if [ -n "$MIRROR" ]; then MIRROR_FROM=/etc/apt/sources.list; return; fi
  fi
  die "no Debian mirror for '$CODENAME' found in ${read[*]:-/etc/apt/sources.list.d/*.sources /etc/apt/sources.list (none exist)}; set APPLIANCE_DEBIAN_MIRROR"
}
MIRROR='' MIRROR_FROM=''
derive_mirror
if [ "$PRINT_MIRROR" = 1 ]; then printf '%s\n' "$MIRROR"; exit 0; fi

[ "$(id -u)" = 0 ] || die "refusing: must run as root (try: sudo bash $0)"

START=$(date +%s%N)
mkdir -p "$STATE_DIR"
[ -f "$LOG" ] && mv -f "$LOG" "$LOG.prev"
printf 'setup.sh %s at %s\n' "$*" "$(date -u +%FT%TZ)" >"$LOG"
ok "Debian $OS_VERSION ($CODENAME), mirror $MIRROR (from $MIRROR_FROM)"

# Run a command with its output in the log; on failure show the log's tail and stop.
logged() {
  printf '\n$ %s\n' "$*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    printf 'setup.sh: failed: %s\n--- last lines of %s ---\n' "$*" "$LOG" >&2
    tail -n 25 "$LOG" >&2
    exit 1
  fi
}
pkg_version() { # installed version of a package, empty if not installed
  local s
  s=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null || true)
  case $s in installed\ *) printf '%s' "${s#installed }" ;; esac
}
upstream() { local v=${1#*:}; printf '%s' "${v%-*}"; } # 1:6.0.4-2~bpo12+1 -> 6.0.4
has_candidate() { # has_candidate PKG [APT-OPTIONS...]
  local pkg=$1; shift
  local c
  c=$(apt-cache "$@" policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
  [ -n "$c" ] && [ "$c" != "(none)" ]
}

# --- 3./4. apt sources, one apt-get update ------------------------------------------------------
BASE_PKGS=(squashfs-tools xz-utils qemu-user-static binfmt-support debootstrap rsync gpg openssl curl jq)
INCUS_PKGS=(incus-base incus-client incus-extra dnsmasq-base)
APT_UPDATE_NEEDED=0
APT_UPDATED=0
apt_update() {
  [ "$APT_UPDATED" = 1 ] && return
  logged apt-get -q update
  APT_UPDATED=1
  done_ "apt-get update ($1)"
}

if [ "$NO_INCUS" = 0 ] && [ "$OS_VERSION" = 12 ]; then
  backports=$(printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
    "$MIRROR" "$KEYRING")
  if [ -f "$BACKPORTS_FILE" ] && [ "$(cat "$BACKPORTS_FILE")" = "$backports" ]; then
    ok "bookworm-backports stanza present ($BACKPORTS_FILE)"
  else
    printf '%s\n' "$backports" >"$BACKPORTS_FILE"
    APT_UPDATE_NEEDED=1
    done_ "wrote bookworm-backports stanza to $BACKPORTS_FILE"
  fi
fi

missing_base=()
for p in "${BASE_PKGS[@]}"; do [ -n "$(pkg_version "$p")" ] || missing_base+=("$p"); done
missing_incus=()
if [ "$NO_INCUS" = 0 ]; then
  for p in "${INCUS_PKGS[@]}"; do [ -n "$(pkg_version "$p")" ] || missing_incus+=("$p"); done
  v=$(pkg_version incus-base)
  if [ -n "$v" ] && dpkg --compare-versions "$v" lt 6; then missing_incus=("${INCUS_PKGS[@]}"); fi
fi
DB_VERSION=$(pkg_version distrobuilder)
DB_NEEDED=0
if [ -z "$DB_VERSION" ] || dpkg --compare-versions "$DB_VERSION" lt 3.2; then DB_NEEDED=1; fi

if [ ${#missing_base[@]} -gt 0 ] || [ ${#missing_incus[@]} -gt 0 ] || [ "$DB_NEEDED" = 1 ]; then
  missing=("${missing_base[@]}" "${missing_incus[@]}")
  [ "$DB_NEEDED" = 1 ] && missing+=(distrobuilder)
  apt_update "missing: ${missing[*]}"
elif [ "$APT_UPDATE_NEEDED" = 1 ]; then
  apt_update "apt sources changed"
else
  ok "nothing missing, apt-get update skipped"
fi

if [ ${#missing_base[@]} -gt 0 ]; then
  logged apt-get install -y -q --no-install-recommends "${missing_base[@]}"
  done_ "installed ${missing_base[*]}"
else
  ok "build tools already installed (${BASE_PKGS[*]})"
fi

# lxd-client (Debian 12 only, for LXD compatibility tests): optional, skipped quietly if absent.
if [ "$NO_INCUS" = 0 ] && [ "$OS_VERSION" = 12 ]; then
  v=$(pkg_version lxd-client)
  if [ -n "$v" ]; then
    ok "lxd-client $(upstream "$v") already installed"
  elif has_candidate lxd-client; then
    logged apt-get install -y -q --no-install-recommends lxd-client
    done_ "installed lxd-client $(upstream "$(pkg_version lxd-client)")"
  else
    skip "lxd-client not available from apt, skipped"
  fi
fi

# --- 4. Incus 6 + incus-extra --------------------------------------------------------------------
if [ "$NO_INCUS" = 1 ]; then
  skip "Incus skipped (--no-incus)"
elif [ ${#missing_incus[@]} -eq 0 ]; then
  ok "incus $(upstream "$(pkg_version incus-base)") already installed (incus-base incus-client incus-extra dnsmasq-base)"
else
  if [ "$OS_VERSION" = 12 ]; then
    logged apt-get install -y -q --no-install-recommends -t bookworm-backports "${INCUS_PKGS[@]}"
    from=bookworm-backports
  else
    logged apt-get install -y -q --no-install-recommends "${INCUS_PKGS[@]}"
    from=$CODENAME
  fi
  done_ "installed incus $(upstream "$(pkg_version incus-base)") from $from (${INCUS_PKGS[*]})"
fi

# --- 5. distrobuilder 3.2 + distrobuilder-images -------------------------------------------------
if [ "$OS_VERSION" = 13 ]; then
  if [ "$DB_NEEDED" = 1 ]; then
    logged apt-get install -y -q --no-install-recommends distrobuilder
    done_ "installed distrobuilder $(upstream "$(pkg_version distrobuilder)") from $CODENAME"
  else
    ok "distrobuilder $(upstream "$DB_VERSION") already installed"
  fi
  if [ -n "$(pkg_version distrobuilder-images)" ]; then
    ok "distrobuilder-images already installed"
  elif has_candidate distrobuilder-images; then
    logged apt-get install -y -q --no-install-recommends distrobuilder-images
    done_ "installed distrobuilder-images"
  else
    skip "distrobuilder-images not available from apt, skipped"
  fi
else
  # Debian 12: fetch the trixie packages with a private apt configuration; the system's apt
  # sources stay untouched.
  APT_TRIXIE=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$TRIXIE_DIR/sources.list.d"
    -o "Dir::State::Lists=$TRIXIE_DIR/lists"
    -o "Dir::Cache=$TRIXIE_DIR/cache"
    -o "Dir::Etc::Preferences=/dev/null"
    -o "Dir::Etc::PreferencesParts=/dev/null"
  )
  trixie_stanza=$(printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
    "$MIRROR" "$KEYRING")
  images_wanted=0
  if [ -z "$(pkg_version distrobuilder-images)" ]; then
    # Only consult the private lists if they exist; otherwise an update is needed anyway.
    if [ "$DB_NEEDED" = 1 ] || [ ! -d "$TRIXIE_DIR/lists" ] \
      || has_candidate distrobuilder-images "${APT_TRIXIE[@]}"; then
      images_wanted=1
    fi
  fi
  if [ "$DB_NEEDED" = 0 ] && [ "$images_wanted" = 0 ]; then
    ok "distrobuilder $(upstream "$DB_VERSION") already installed$([ -n "$(pkg_version distrobuilder-images)" ] && printf ' (with distrobuilder-images)')"
  else
    mkdir -p "$TRIXIE_DIR/sources.list.d" "$TRIXIE_DIR/lists/partial" \
      "$TRIXIE_DIR/cache/archives/partial" "$TRIXIE_DIR/debs"
    printf '%s\n' "$trixie_stanza" >"$TRIXIE_DIR/sources.list.d/trixie.sources"
    logged apt-get -q "${APT_TRIXIE[@]}" update
    want=()
    [ "$DB_NEEDED" = 1 ] && want+=(distrobuilder)
    has_candidate distrobuilder "${APT_TRIXIE[@]}" || die "distrobuilder not found in trixie at $MIRROR"
    if has_candidate distrobuilder-images "${APT_TRIXIE[@]}"; then
      want+=(distrobuilder-images)
    else
      skip "distrobuilder-images not in trixie, skipped"
    fi
    if [ ${#want[@]} -gt 0 ]; then
      # apt-get download writes into the working directory; let its sandbox user write there.
      rm -f "$TRIXIE_DIR"/debs/*.deb
      if getent passwd _apt >/dev/null; then chown _apt "$TRIXIE_DIR/debs"; fi
      (cd "$TRIXIE_DIR/debs" && logged apt-get -q "${APT_TRIXIE[@]}" download "${want[@]}")
      debs=()
      for p in "${want[@]}"; do
        deb=$(compgen -G "$TRIXIE_DIR/debs/${p}_*.deb" | head -n 1 || true)
        [ -n "$deb" ] || die "apt-get download left no ${p}_*.deb in $TRIXIE_DIR/debs"
        debs+=("./${deb##*/}")
      done
      (cd "$TRIXIE_DIR/debs" && logged apt-get install -y -q --no-install-recommends "${debs[@]}")
      done_ "installed ${want[*]} $(upstream "$(pkg_version distrobuilder)") from trixie (private apt config in $TRIXIE_DIR)"
    fi
  fi
fi

# --- 6. binfmt_misc + qemu-user ------------------------------------------------------------------
case $(uname -m) in
  aarch64 | arm64) FOREIGN=qemu-x86_64 ;;
  *) FOREIGN=qemu-aarch64 ;;
esac
BINFMT=/proc/sys/fs/binfmt_misc
if mountpoint -q "$BINFMT"; then
  ok "binfmt_misc already mounted"
else
  logged mount -t binfmt_misc binfmt_misc "$BINFMT"
  done_ "mounted binfmt_misc on $BINFMT"
fi
if [ ! -f "$BINFMT/$FOREIGN" ]; then
  logged update-binfmts --enable
  done_ "update-binfmts --enable"
elif ! head -n 1 "$BINFMT/$FOREIGN" | grep -qx enabled; then
  # Registered but switched off: update-binfmts only warns "already enabled in kernel".
  echo 1 >"$BINFMT/$FOREIGN"
  done_ "re-enabled $FOREIGN in $BINFMT"
else
  ok "binfmt formats already enabled"
fi
[ -f "$BINFMT/$FOREIGN" ] || die "$FOREIGN is not registered in $BINFMT after update-binfmts --enable"
head -n 1 "$BINFMT/$FOREIGN" | grep -qx enabled || die "$FOREIGN is registered but disabled in $BINFMT"
ok "$FOREIGN registered: $(sed -n '1p' "$BINFMT/$FOREIGN"), $(sed -n 's/^interpreter //p' "$BINFMT/$FOREIGN"), $(sed -n 's/^flags: /flags /p' "$BINFMT/$FOREIGN")"

# --- 7. incusd ------------------------------------------------------------------------------------
incus_up() { [ -S /var/lib/incus/unix.socket ] && timeout 10 incus query /1.0 >/dev/null 2>&1; }
incus_wait_existing() { # an incusd that is starting or shutting down: wait up to 30 s for either
  local i
  for i in $(seq 60); do
    incus_up && return 0
    pgrep -x incusd >/dev/null || return 1
    sleep 0.5
  done
  die "an incusd process ($(pgrep -x incusd | tr '\n' ' ')) exists but does not answer on /var/lib/incus/unix.socket"
}
if [ "$NO_INCUS" = 0 ]; then
  if incus_up || incus_wait_existing; then
    ok "incusd already running ($(incus query /1.0 | jq -r .environment.server_version))"
  else
    if [ -d /run/systemd/system ]; then
      logged systemctl start incus
      how="systemctl start incus"
    else
      mkdir -p /var/log/incus
      PATH=/usr/libexec/incus:$PATH setsid nohup /usr/libexec/incus/incusd --group incus-admin \
        --logfile=/var/log/incus/incus.log >/var/log/incus/incusd.out 2>&1 </dev/null &
      how="pid $!, log /var/log/incus/incus.log"
    fi
    if ! timeout 90 incus admin waitready --timeout=60 >>"$LOG" 2>&1; then
      tail -n 20 /var/log/incus/incusd.out /var/log/incus/incus.log >&2 2>/dev/null || true
      die "incusd did not become ready within 60 s"
    fi
    done_ "started incusd $(incus query /1.0 | jq -r .environment.server_version) ($how)"
  fi
fi

# --- 8. Incus initialisation (explicit subnet, never auto) ----------------------------------------
if [ "$NO_INCUS" = 0 ]; then
  [[ $BRIDGE_SUBNET =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$ ]] \
    || die "APPLIANCE_BRIDGE_SUBNET must be an explicit IPv4 address/prefix such as 10.87.13.1/24, got '$BRIDGE_SUBNET'"
  has_pool=0 has_net=0 has_root=0 has_eth0=0
  incus storage show default >/dev/null 2>&1 && has_pool=1
  if [ "$STORAGE" = auto ]; then
    # Like `incus admin init`, prefer a copy-on-write pool: on dir every launch unpacks the
    # image (~5 s for nginx on a slow disk), on btrfs it is a snapshot of the unpacked image.
    # A loop file needs the btrfs module and a free loop device (not in every container).
    if [ "$has_pool" = 1 ]; then STORAGE=$(incus query /1.0/storage-pools/default | jq -r .driver)
    elif { grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null; } && losetup -f >/dev/null 2>&1; then STORAGE=btrfs
    else STORAGE=dir; skip "no btrfs or no loop device here: pool default will be dir (each launch unpacks its image)"
    fi
  fi
  case $STORAGE in
    dir) ;;
    btrfs)
      grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null || true
      grep -qw btrfs /proc/filesystems || die "APPLIANCE_STORAGE=btrfs: the kernel has no btrfs (/proc/filesystems)"
      if ! command -v mkfs.btrfs >/dev/null; then
        logged apt-get install -y -q --no-install-recommends btrfs-progs
        done_ "installed btrfs-progs (APPLIANCE_STORAGE=btrfs)"
      fi ;;
    *) ;;
  esac
  if [ "$has_pool" = 1 ] && [ "$STORAGE" != dir ]; then
    driver=$(incus query /1.0/storage-pools/default | jq -r .driver)
    [ "$driver" = "$STORAGE" ] || skip "pool default is $driver, left as it is (APPLIANCE_STORAGE=$STORAGE applies to a new pool only; for another: incus storage create fast $STORAGE size=$STORAGE_SIZE, then incus profile device set default root pool=fast)"
  fi
  incus network show incusbr0 >/dev/null 2>&1 && has_net=1
  devices=$(incus query /1.0/profiles/default 2>/dev/null | jq -r '.devices | keys[]' 2>/dev/null || true)
  grep -qx root <<<"$devices" && has_root=1
  grep -qx eth0 <<<"$devices" && has_eth0=1
  if [ "$has_pool$has_net$has_root$has_eth0" = 1111 ]; then
    ok "incus already initialised (pool default, network incusbr0 $(incus network get incusbr0 ipv4.address), default profile)"
  else
    preseed=''
    if [ "$has_net" = 0 ]; then
      preseed+="networks:
- name: incusbr0
  type: bridge
  config:
    ipv4.address: $BRIDGE_SUBNET
    ipv4.nat: \"true\"
    ipv6.address: none
"
    fi
    if [ "$has_pool" = 0 ]; then
      preseed+="storage_pools:
- name: default
  driver: $STORAGE
"
      [ "$STORAGE" = dir ] || preseed+="  config:
    size: $STORAGE_SIZE
"
    fi
    if [ "$has_root" = 0 ] && [ "$has_eth0" = 0 ]; then
      preseed+="profiles:
- name: default
  devices:
    root: {path: /, pool: default, type: disk}
    eth0: {name: eth0, network: incusbr0, type: nic}
"
    fi
    if [ -n "$preseed" ]; then
      printf '\n$ incus admin init --preseed <<EOF\n%sEOF\n' "$preseed" >>"$LOG"
      if ! incus admin init --preseed <<<"$preseed" >>"$LOG" 2>&1; then
        tail -n 10 "$LOG" >&2; die "incus admin init --preseed failed"
      fi
    fi
    if [ "$has_root" = 0 ] && [ "$has_eth0" = 1 ]; then
      logged incus profile device add default root disk path=/ pool=default
    elif [ "$has_root" = 1 ] && [ "$has_eth0" = 0 ]; then
      logged incus profile device add default eth0 nic name=eth0 network=incusbr0
    fi
    done_ "initialised incus (pool default: $(incus query /1.0/storage-pools/default | jq -r .driver), network incusbr0 $(incus network get incusbr0 ipv4.address), default profile root+eth0)"
  fi
fi

elapsed=$((($(date +%s%N) - START) / 1000000))
printf 'setup.sh: done in %d.%03d s\n' $((elapsed / 1000)) $((elapsed % 1000))
