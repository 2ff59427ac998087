// File: brook/internal/input_alignment.h  (internal: not part of the API)
//
// InputAlignment: what an input task does with the control elements of its
// channels, apart from the records: the combined watermark (WatermarkValve),
// watermark alignment and checkpoint barrier alignment. It decides which
// channels may be read (a paused channel is not read) and when the
// subtask takes its part of a checkpoint; it moves no records, so it is
// independent of the record type. Not thread-safe: owned by one subtask.
//
// Watermark alignment (`align_watermarks`, set when every source of the job
// is bounded): a channel that has delivered a watermark beyond the combined
// one is not read until the other channels catch up. Each record is then
// processed under exactly the watermark that preceded it upstream, whatever
// the threads' timing (outside a checkpoint's alignment, below), so
// lateness, firings and what a sink holds at each watermark are the same on
// every run and at any parallelism (DESIGN.md §4: file sources are
// deterministic). The combined watermark is still Flink's
// minimum over the inputs. It cannot deadlock as long as every operator
// forwards its input watermark unchanged (true of all of brook's; an operator
// that held watermarks back could, in a diamond): a channel holding the
// global minimum is never paused, and neither are its producer's inputs.
// Unbounded jobs are not aligned: there a stalled input would stop the
// others' records, not just their event time.
//
// Checkpoint barriers are aligned (Flink's aligned checkpoints,
// CheckpointBarrierHandler): once barrier n arrives on a channel, that
// channel is not read until barrier n has arrived on every channel that has
// not ended (a channel that ends meanwhile counts as aligned); then the
// subtask snapshots its chain, forwards the barrier and reads every channel
// again. So the snapshot reflects exactly the records before the barrier on
// every input. A newer barrier abandons an unfinished alignment (the
// coordinator has given up on the older checkpoint); an older one is
// ignored.
//
// While a barrier is aligned, no channel is paused for being ahead in event
// time: only barriers pause. The checkpoint wins over watermark alignment,
// which then no longer guarantees the same interleaving on every run (a
// record read early sees a lower watermark, so it can only be less late;
// possible only with several sources). Pausing there can deadlock across
// subtasks when one source reaches a subtask both directly and through
// another exchange (the camera job's dead letters: malformed records from the
// parse step, unknown locations after the join): the subtask has barrier n
// from source 0's direct channel and waits for it on the channels through
// the exchange, whose subtasks wait for barrier n from source 1; source 1
// never injects it, because its checkpoint trigger waits behind a push into
// its own direct channel, which is full and paused for being ahead. Lifting
// only when every unblocked channel was ahead (as before) missed this case:
// the channels through the exchange are behind, readable and empty.
#ifndef BROOK_INTERNAL_INPUT_ALIGNMENT_H_
#define BROOK_INTERNAL_INPUT_ALIGNMENT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "brook/internal/checkpoint_barrier.h"
#include "brook/internal/watermark_valve.h"

namespace brook::internal {

class InputAlignment {
 public:
  // What the input task must do after a control element, in this order:
  // forward `watermark` (WatermarkValve's order of watermark and idleness),
  // then, if set, take its part of `checkpoint` (its barrier is aligned; the
  // channels are readable again).
  struct Actions {
    WatermarkValve::Output watermark;
    std::optional<CheckpointBarrier> checkpoint;
    int64_t alignment_ms = 0;  // first to last barrier of `checkpoint`
  };

  // `set_paused(channel, paused)` is called whenever a channel's pause
  // changes (the gate then stops or resumes reading it). Watermark alignment
  // needs more than one channel.
  InputAlignment(int num_channels, bool align_watermarks,
                 std::function<void(int channel, bool paused)> set_paused);

  Actions OnWatermark(int channel, int64_t watermark_ms);
  Actions OnIdle(int channel);
  Actions OnActive(int channel);
  // The channel ended: it no longer holds back the watermark nor an
  // alignment.
  Actions OnEndOfInput(int channel);
  Actions OnBarrier(int channel, const CheckpointBarrier& barrier);

  bool AllEnded() const { return valve_.AllEnded(); }
  bool paused(int channel) const { return paused_[channel]; }
  bool aligning() const { return aligning_; }

 private:
  Actions Watermark(const WatermarkValve::Output& out);
  // Completes the alignment if every channel is blocked or ended.
  void MaybeComplete(Actions& actions);
  void UpdatePauses();

  const int num_channels_;
  WatermarkValve valve_;
  const bool align_watermarks_;
  std::function<void(int, bool)> set_paused_;
  std::vector<bool> paused_;
  std::vector<bool> barrier_blocked_;
  std::vector<bool> ended_;
  bool aligning_ = false;
  CheckpointBarrier pending_;
  int64_t last_barrier_id_ = 0;
  absl::Time alignment_start_;
};

}  // namespace brook::internal

#endif  // BROOK_INTERNAL_INPUT_ALIGNMENT_H_
