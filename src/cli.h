/*
 * The subcommands for people. Each returns the process's exit status and
 * writes its findings to stdout, its errors to stderr.
 */
#ifndef CLI_H
#define CLI_H

#include "config.h"

/*
 * Runs the subcommand argv[0] with its arguments, loading the config from
 * config_path where it needs one. Returns the exit status: 2 for a
 * subcommand or arguments it does not know, said in one line.
 */
int cli_run(int argc, char **argv, const char *config_path);

#endif
