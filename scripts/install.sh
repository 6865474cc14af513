#!/bin/sh
# Installs sopgate: the bundle with its native dependencies, the documentation and the
# shipped board profiles into <prefix>/opt/sopgate, the configuration into
# <prefix>/etc/sopgate (never overwritten), the systemd unit, a udev rule giving the gpio
# group the GPIO chips, a dedicated user, and enables the service. Idempotent: run it again to upgrade.
#
#   scripts/install.sh [--prefix DIR] [--no-start]
#
# With --prefix (for tests and packaging) nothing outside DIR is touched: no user is
# created and systemctl is not called.
set -eu

prefix=""
start=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --no-start) start=no; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

src="$(cd "$(dirname "$0")/.." && pwd)"
opt="$prefix/opt/sopgate"
etc="$prefix/etc/sopgate"
unit_dir="$prefix/etc/systemd/system"
state="$prefix/var/lib/sopgate"

if [ ! -f "$src/dist/sopgate.cjs" ] || [ ! -f "$src/dist/mqtt-client.cjs" ]; then
  echo "install.sh: $src/dist/sopgate.cjs or mqtt-client.cjs is missing: run npm run build first" >&2
  exit 1
fi

echo "installing sopgate into $opt"
mkdir -p "$opt/dist" "$etc/sops" "$unit_dir" "$state"
# The bundle; what earlier versions kept beside it is removed.
rm -f "$opt/dist/sopgate.bundle.cjs" "$opt/dist/sopgate.bundle.cjs.v8cache"
cp "$src/dist/sopgate.cjs" "$opt/dist/sopgate.cjs"
cp "$src/dist/mqtt-client.cjs" "$opt/dist/mqtt-client.cjs"
cp "$src/package.json" "$opt/package.json"
# The documentation, where the unit's Documentation= points: README.md and docs/.
cp "$src/README.md" "$opt/README.md"
rm -rf "$opt/docs"
mkdir -p "$opt/docs"
cp "$src"/docs/*.md "$opt/docs/"
[ -f "$src/package-lock.json" ] && cp "$src/package-lock.json" "$opt/package-lock.json"
# Only the native modules: everything else is inside the bundle.
(cd "$opt" && npm install --omit=dev --no-audit --no-fund --loglevel=error)
# Board profiles to copy from (into /etc/sopgate/boards, say): replaced on every upgrade.
rm -rf "$opt/boards"
cp -R "$src/boards" "$opt/boards"

if [ ! -f "$etc/sopgate.toml" ]; then
  cat > "$etc/sopgate.toml" <<TOML
# sopgate configuration: every key, with its default, is in $opt/docs/configuration.md.
workspace = "$prefix/etc/sopgate"
state_dir = "$prefix/var/lib/sopgate"

[http]
listen = "127.0.0.1:8080"

[mqtt]
listen = "127.0.0.1:1883"
TOML
  echo "wrote $etc/sopgate.toml"
else
  echo "kept the existing $etc/sopgate.toml"
fi

# One pass, so a prefix that itself contains one of the paths is not rewritten twice;
# the prefix is escaped for sed's replacement text.
sed_prefix=$(printf '%s' "$prefix" | sed 's/[\\&#]/\\&/g')
sed "s#\(/opt/sopgate\|/etc/sopgate\|/var/lib/sopgate\)#$sed_prefix\1#g" \
  "$src/systemd/sopgate.service" > "$unit_dir/sopgate.service"

# /dev/gpiochip* is root's alone on plain Debian; Raspberry Pi OS ships the same rule.
mkdir -p "$prefix/etc/udev/rules.d"
cat > "$prefix/etc/udev/rules.d/60-sopgate-gpio.rules" <<'RULE'
# Installed by sopgate's install.sh: members of the gpio group may use the GPIO chips.
SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"
RULE

if [ -n "$prefix" ]; then
  echo "installed under $prefix (no user created, systemd not touched)"
  exit 0
fi

if ! id sopgate >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/sopgate --shell /usr/sbin/nologin sopgate
fi
for group in gpio dialout; do
  getent group "$group" >/dev/null 2>&1 || groupadd --system "$group"
done
if command -v udevadm >/dev/null 2>&1; then
  udevadm control --reload-rules && udevadm trigger --subsystem-match=gpio || echo "install.sh: udevadm could not apply the gpio rule; it applies at the next boot" >&2
fi
chown -R sopgate:sopgate "$etc" "$state"
if command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload
  if [ "$start" = yes ]; then systemctl enable --now sopgate; else systemctl enable sopgate; fi
  echo "sopgate is enabled: systemctl status sopgate"
fi
