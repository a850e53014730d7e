# Sourced by the e2e scripts that run tshark with a generated plugin; not a test itself. Gives
# what Tests/e2e/lib/daemon.bash gives ($tmp, fail, ...) and $ft, after checking that tshark is
# installed; HOME is a fresh folder (a clean Wireshark profile, no personal plugin) and the spec
# path holds only what a script names (no kernel spec cache, no FLOWTRACE_SPEC_PATH).
# $root must be set.
ft="${FLOWTRACE_BIN:?}/flowtrace"
source "$root/Tests/e2e/lib/daemon.bash"
command -v tshark >/dev/null || fail "tshark is not installed (scripts/install-deps.sh installs it)"
export HOME="$tmp/home"; mkdir -p "$HOME"
unset XDG_CACHE_HOME FLOWTRACE_LINUX_SRC FLOWTRACE_SPEC_PATH
