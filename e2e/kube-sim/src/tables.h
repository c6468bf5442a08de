#pragma once

// Server-side printing: the meta.k8s.io/v1 Table a real API server returns
// when kubectl asks for `as=Table`, with the same columns and cell formats
// as Kubernetes' printers (pods READY/STATUS/RESTARTS/AGE, deployments
// READY/UP-TO-DATE/AVAILABLE/AGE, ...). Priority-1 columns are what
// `kubectl get -o wide` adds.

#include "clock.h"
#include "resources.h"

#include <vector>

namespace kubesim {

enum class IncludeObject { kNone, kMetadata, kObject };

// Parses the includeObject query parameter (default Metadata).
IncludeObject include_object_from(const std::string& value);

Json table_columns(const ResourceInfo& r);
Json table_row(const ResourceInfo& r, const Json& object, TimePoint now, IncludeObject include);
// A whole Table for a list (or one object).
Json make_table(const ResourceInfo& r, const std::vector<const Json*>& objects, TimePoint now,
                IncludeObject include, const std::string& resource_version, bool with_columns = true);

// The pod STATUS cell ("Running", "CrashLoopBackOff", "OOMKilled",
// "Terminating", "Init:0/1"...), exactly as kubectl shows it.
std::string pod_status_reason(const Json& pod);

}  // namespace kubesim
