// File: brook/brook.h
//
// The umbrella header: everything a job or a custom operator needs.
#ifndef BROOK_BROOK_H_
#define BROOK_BROOK_H_

#include "brook/collection_source.h"
#include "brook/functions.h"
#include "brook/key_group.h"
#include "brook/metrics.h"
#include "brook/output_tag.h"
#include "brook/record.h"
#include "brook/sink.h"
#include "brook/source.h"
#include "brook/state.h"
#include "brook/status.h"
#include "brook/stream.h"
#include "brook/time.h"
#include "brook/timer_service.h"
#include "brook/watermark_strategy.h"
#include "brook/window.h"

#endif  // BROOK_BROOK_H_
