#pragma once

#include <memory>
#include <string_view>

#include "client_core.h"
#include "kubemend/kube/watch.h"

namespace kubemend::kube::internal {

// Starts the background list/watch loop described in watch.h.
std::unique_ptr<Watcher> StartWatcher(std::shared_ptr<ClientCore> core, const ResourceType& type, std::string_view ns,
                                      const WatchOptions& options, WatchCallbacks callbacks);

}  // namespace kubemend::kube::internal
