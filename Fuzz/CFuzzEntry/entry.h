// The fuzz build's name for a fuzz target's @main entry point (scripts/fuzz.sh renames it with
// -entry-point-function-name, because libFuzzer's own main is linked in). FuzzSupport's
// LLVMFuzzerInitialize calls it so the target registers its oracle. Only declared: the symbol
// exists in the fuzz build only.
int fuzz_target_main(int argc, char **argv);
