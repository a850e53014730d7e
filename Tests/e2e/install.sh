#!/usr/bin/env bash
# make install into a staging folder (DESTDIR, PREFIX=/usr), as a packager runs it: the three
# tools run from there, each has a man page that renders with a NAME section, bash completion
# offers the replay targets and backend names, zsh and fish scripts are there, the Wireshark
# plugin loads in tshark, the installed flowtrace loads the installed YNL specs; uninstall
# removes it all.
set -euo pipefail
bin="${FLOWTRACE_BIN:?}"
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
stage="$tmp/stage"

# The build the e2e tests use (debug unless FLOWTRACE_BIN names a release folder).
config=debug; [[ "$bin" == */release ]] && config=release
make -C "$root" --no-print-directory install PREFIX=/usr DESTDIR="$stage" CONFIG="$config" \
     WIRESHARK_PLUGINDIR=/usr/lib/wireshark/plugins > "$tmp/install.out" 2>&1 \
  || { cat "$tmp/install.out"; exit 1; }

for t in flowtrace flow-table-ctl flow-table-hairpind; do
  [[ -x "$stage/usr/bin/$t" ]] || { echo "missing $stage/usr/bin/$t"; exit 1; }
  "$stage/usr/bin/$t" --help > /dev/null
  page="$stage/usr/share/man/man1/$t.1"
  grep -q '^\.Sh NAME' "$page" || { echo "$page has no NAME section"; exit 1; }
  grep -q "$t" "$page" || { echo "$page does not name $t"; exit 1; }
  if command -v groff > /dev/null; then
    groff -mandoc -Tutf8 -P-cbou "$page" 2>/dev/null | grep -q "NAME" || { echo "$page does not render"; exit 1; }
  fi
  [[ -s "$stage/usr/share/bash-completion/completions/$t" ]] || { echo "no bash completion for $t"; exit 1; }
  [[ -s "$stage/usr/share/zsh/site-functions/_$t" ]] || { echo "no zsh completion for $t"; exit 1; }
  [[ -s "$stage/usr/share/fish/vendor_completions.d/$t.fish" ]] || { echo "no fish completion for $t"; exit 1; }
done
grep -q 'replay' "$stage/usr/share/man/man1/flowtrace.1" || { echo "flowtrace.1 does not describe replay"; exit 1; }
echo "tools, man pages and completion files: ok"

# Bash completes `flowtrace replay t.pcapng --target ` with the targets the tool lists.
complete_words() {
  PATH="$stage/usr/bin:$PATH" bash -c '
    shopt -s extglob
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _flowtrace flowtrace "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}"' _ "$stage/usr/share/bash-completion/completions/flowtrace" "$@"
}
complete_words flowtrace replay t.pcapng --target "" > "$tmp/targets"
for want in backend:hash backend:tcam twin twin:tss; do
  grep -qx "$want" "$tmp/targets" || { echo "--target completion lacks $want:"; cat "$tmp/targets"; exit 1; }
done
complete_words flowtrace replay t.pcapng --target back > "$tmp/targets2"
if grep -qv '^backend:' "$tmp/targets2"; then echo "--target back completes to non-backend words:"; cat "$tmp/targets2"; exit 1; fi
complete_words flowtrace demo --backend "" > "$tmp/backends"
grep -qx tcam "$tmp/backends" || { echo "--backend completion lacks tcam:"; cat "$tmp/backends"; exit 1; }
echo "bash completion of --target and --backend: ok"

# The installed flowtrace finds the project's YNL specs next to its prefix.
"$stage/usr/bin/flowtrace" specs > "$tmp/specs" || { echo "flowtrace specs failed:"; cat "$tmp/specs"; exit 1; }
for fam in net_flow_nl nfl_hairpin; do
  grep -q "^$fam .* project  $stage/usr/share/flowtrace/spec/" "$tmp/specs" \
    || { echo "the installed flowtrace does not load $fam from $stage/usr/share/flowtrace/spec:"; cat "$tmp/specs"; exit 1; }
done
echo "YNL specs: ok"

lua="$stage/usr/lib/wireshark/plugins/flowtrace.lua"
[[ -s "$lua" ]] || { echo "no Wireshark plugin at $lua"; exit 1; }
if command -v tshark > /dev/null; then
  tshark -G protocols -X "lua_script:$lua" 2>&1 | grep -q 'net_flow_nl' \
    || { echo "tshark does not load the installed plugin"; exit 1; }
fi
echo "Wireshark plugin: ok"

make -C "$root" --no-print-directory uninstall PREFIX=/usr DESTDIR="$stage" \
     WIRESHARK_PLUGINDIR=/usr/lib/wireshark/plugins > /dev/null
left=$(find "$stage" -type f | wc -l)
((left == 0)) || { echo "uninstall left files:"; find "$stage" -type f; exit 1; }
echo "uninstall: ok"
