/* The commands of stk: one function per command, registered in the table of commands.c. */
#ifndef STK_COMMANDS_H
#define STK_COMMANDS_H

#include "cli.h"

/* cmd_config.c */
int cmd_config_check(cli *c, int argc, char **argv);
int cmd_config_show(cli *c, int argc, char **argv);
int cmd_config_keys(cli *c, int argc, char **argv);

/* cmd_snapshot.c */
int cmd_snapshot_create(cli *c, int argc, char **argv);
int cmd_snapshot_list(cli *c, int argc, char **argv);
int cmd_snapshot_show(cli *c, int argc, char **argv);
int cmd_snapshot_delete(cli *c, int argc, char **argv);
int cmd_snapshot_expire(cli *c, int argc, char **argv);
int cmd_wal_push(cli *c, int argc, char **argv);
int cmd_wal_get(cli *c, int argc, char **argv);
int cmd_hub_verify_backup(cli *c, int argc, char **argv);
int cmd_restore(cli *c, int argc, char **argv);

#endif
