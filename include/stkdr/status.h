/**
 * @file stkdr/status.h
 * @brief Recovery readiness against the runbook's objectives (RPO 1 h, RTO 4 h).
 * @defgroup stkdr_status Status
 * @{
 */
#ifndef STKDR_STATUS_H
#define STKDR_STATUS_H

#include "common.h"
#include "buf.h"
#include "ctx.h"

STKDR_BEGIN_DECL

/**
 * Reports, as a JSON document: the newest and oldest snapshots, the newest archived WAL and its age
 * (the current RPO exposure), the latest restorable time, every gap in the WAL chain from the oldest
 * snapshot's start to the newest archived segment, the last verification, and for each objective
 * (`targets.rpo`, `targets.rto`) whether it is met. Missing WAL is reported here, not discovered
 * during a disaster.
 * @param[out] report_out the JSON report (docs/formats.md, "Status"). Ownership: caller disposes.
 * @return 0 when the report was made, whatever it says (read its `ok`); an object-store error
 *         otherwise. Since: 1.0.
 */
STKDR_API int stkdr_status(stkdr_buf *report_out, stkdr_ctx *ctx);

STKDR_END_DECL

#endif
/** @} */
