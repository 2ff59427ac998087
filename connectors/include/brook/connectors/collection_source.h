// File: brook/connectors/collection_source.h
//
// CollectionSource<T>, a bounded source over values held in memory,
// restorable at any parallelism (Flink's split model). It lives in the engine
// (brook/collection_source.h), which StreamExecutionEnvironment::
// FromCollection needs and which may not depend on the connectors; this
// header makes it one of the connectors, under their namespace.
#ifndef BROOK_CONNECTORS_COLLECTION_SOURCE_H_
#define BROOK_CONNECTORS_COLLECTION_SOURCE_H_

#include "brook/collection_source.h"  // IWYU pragma: export

namespace brook::connectors {

using ::brook::CollectionSource;

}  // namespace brook::connectors

#endif  // BROOK_CONNECTORS_COLLECTION_SOURCE_H_
