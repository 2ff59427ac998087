# Checkpoint file format (DESIGN.md §7; brook/checkpoint_storage.h).
#
# Every checkpoint file (each operator subtask's data file and `_metadata`) is
# two Cap'n Proto messages back to back, in the standard stream framing:
#
#   FileHeader message   40 bytes, always the same layout
#   payload message      OperatorSubtaskState (data files) or CheckpointMetadata
#
# The header carries a magic number (which also says which payload follows),
# the format version, the payload's exact length in bytes and its CRC-32
# (zlib). The payload is a separate message rather than a Data field of the
# header so that it can be written straight from the builder's segments,
# without flattening a copy of a state that may be hundreds of MB.
#
# A reader rejects (kDataLoss) a file that is shorter or longer than the header
# says, whose header is not byte-for-byte the canonical encoding of its fields,
# whose magic or version is unknown, or whose payload fails the CRC.
# `_metadata` also records each data file's size and CRC-32 of all its bytes.
#
# Compatibility: FileHeader never changes. A change to a payload struct that
# old readers can still read (new fields appended) keeps the version; anything
# else bumps kFormatVersion in checkpoint_storage.cc.
@0x801295a31ab7e5d2;

$import "/capnp/c++.capnp".namespace("brook::checkpoint_format");

struct FileHeader {
  # Exactly three data words and no pointers: the message is 40 bytes (segment
  # table, root pointer, 24 data bytes) with no padding left unchecked.
  magic @0 :UInt64;          # kDataFileMagic or kMetadataMagic
  payloadBytes @1 :UInt64;   # length of the payload message (a multiple of 8)
  formatVersion @2 :UInt32;
  payloadCrc32 @3 :UInt32;   # zlib crc32 of the payload message's bytes
}

struct KeyGroupState {
  # The key group's serialised keyed state and timers is `data` followed by
  # `tail`. A writer may put the last (size % 8) bytes in `tail` so that a
  # large blob can be referenced in place (a whole number of words) rather
  # than copied into the message; readers always concatenate the two.
  keyGroup @0 :Int32;
  data @1 :Data;
  tail @2 :Data;
}

struct OperatorSubtaskState {
  operatorId @0 :Text;
  subtaskIndex @1 :Int32;
  parallelism @2 :Int32;
  operatorState @3 :Data;
  keyGroups @4 :List(KeyGroupState);
}

struct FileEntry {
  name @0 :Text;             # relative to the checkpoint's directory
  operatorId @1 :Text;
  subtaskIndex @2 :Int32;
  parallelism @3 :Int32;
  sizeBytes @4 :Int64;
  checksum @5 :UInt32;       # zlib crc32 of the whole file
  ownerCheckpointId @6 :Int64;
  # 0: the file is in this checkpoint's directory. Otherwise it is shared:
  # an earlier checkpoint `chk-<id>` wrote it (incremental checkpoints). The
  # files of one operator subtask are listed in chain order: the full
  # snapshot first, then each increment on it.
}

struct CheckpointMetadata {
  checkpointId @0 :Int64;
  savepoint @1 :Bool;
  timestampMs @2 :Int64;
  maxParallelism @3 :Int32;
  jobName @4 :Text;
  files @5 :List(FileEntry);
}
