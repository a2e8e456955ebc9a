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
int cmd_wal_prefetch(cli *c, int argc, char **argv);
int cmd_wal_receive(cli *c, int argc, char **argv);
int cmd_hub_verify_backup(cli *c, int argc, char **argv);
int cmd_restore(cli *c, int argc, char **argv);
int cmd_status(cli *c, int argc, char **argv);

/* cmd_audit.c */
int cmd_audit_export(cli *c, int argc, char **argv);
int cmd_audit_verify(cli *c, int argc, char **argv);
int cmd_audit_gaps(cli *c, int argc, char **argv);
int cmd_audit_restore(cli *c, int argc, char **argv);
int cmd_audit_log(cli *c, int argc, char **argv);
int cmd_audit_lifecycle_apply(cli *c, int argc, char **argv);

/* cmd_keys.c */
int cmd_keys_generate(cli *c, int argc, char **argv);
int cmd_keys_list(cli *c, int argc, char **argv);
int cmd_keys_rotate(cli *c, int argc, char **argv);
int cmd_keys_backup(cli *c, int argc, char **argv);
int cmd_keys_import(cli *c, int argc, char **argv);
int cmd_keys_jwks(cli *c, int argc, char **argv);
int cmd_auth_create_token(cli *c, int argc, char **argv);
int cmd_auth_verify_token(cli *c, int argc, char **argv);
int cmd_bridge_force_sync(cli *c, int argc, char **argv);

#endif
