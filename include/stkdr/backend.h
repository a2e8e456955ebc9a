/**
 * @file stkdr/backend.h
 * @brief Convenience header: the backend vtables and the implementer's error setters.
 *
 * The vtables live in stkdr/sys/backend.h (the implementer's API, with its own stability promise:
 * see docs/abi.md). This header exists so that `#include <stkdr/backend.h>` works as DESIGN.md says.
 */
#ifndef STKDR_BACKEND_H
#define STKDR_BACKEND_H

#include "sys/backend.h"
#include "sys/errors.h"

#endif
