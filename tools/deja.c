/* deja.c - the deja command-line tool: subcommand dispatch and help. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "deja %s - fast visual loop-closure detection\n\n"
               "usage: deja COMMAND [options]\n\n"
               "  demo                       loop detection on a generated world (no data needed)\n"
               "  run --vocab V IMAGES...    loop-closure detection over a sequence\n"
               "  eval --vocab V SEQUENCE... precision / recall against ground truth, --report\n"
               "  vocab train|info|import|export   build, inspect and convert vocabularies\n"
               "  orb IMAGES...              ORB features: time per stage\n"
               "  bow --vocab V IMAGES...    decode -> ORB -> BoW: time per stage, --match\n"
               "  synth OUT                  write a generated sequence with its true loops\n"
               "  version                    version and SIMD kernels in use\n\n"
               "IMAGES is a folder (file-name order), a list file, or image files.\n"
               "Run a command without arguments for its options.\n",
            deja_version());
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *c = argv[1];
    if (strcmp(c, "demo") == 0) return cmd_demo(argc - 2, argv + 2);
    if (strcmp(c, "run") == 0) return cmd_run(argc - 2, argv + 2);
    if (strcmp(c, "eval") == 0) return cmd_eval(argc - 2, argv + 2);
    if (strcmp(c, "vocab") == 0) return cmd_vocab(argc - 2, argv + 2);
    if (strcmp(c, "orb") == 0) return cmd_orb(argc - 2, argv + 2);
    if (strcmp(c, "bow") == 0) return cmd_bow(argc - 2, argv + 2);
    if (strcmp(c, "synth") == 0) return cmd_synth(argc - 2, argv + 2);
    if (strcmp(c, "version") == 0 || strcmp(c, "--version") == 0) {
        printf("deja %s (SIMD: %s)\n", deja_version(), deja_simd_name(deja_simd_detect()));
        return 0;
    }
    if (strcmp(c, "help") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "deja: unknown command '%s'\n\n", c);
    usage(stderr);
    return 2;
}
