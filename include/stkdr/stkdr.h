/**
 * @file stkdr/stkdr.h
 * @brief Umbrella header of libstkdr, the Santokit disaster-recovery engine.
 * @defgroup stkdr libstkdr
 *
 * Include this for the consumer API. Backend implementers also include stkdr/backend.h.
 */
#ifndef STKDR_STKDR_H
#define STKDR_STKDR_H

#include "common.h"
#include "errors.h"
#include "buf.h"
#include "global.h"
#include "ctx.h"
#include "snapshot.h"
#include "restore.h"
#include "wal.h"
#include "keys.h"
#include "keysync.h"
#include "audit.h"
#include "status.h"

#endif
