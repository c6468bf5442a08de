#include "kubemend/kube/client.h"

#include <fmt/format.h>

#include "client_core.h"
#include "logging.h"
#include "transport.h"
#include "watcher.h"

namespace kubemend::kube {
namespace {

using internal::ClientCore;
using internal::HttpRequest;
using internal::Query;

constexpr const char* kJson = "application/json";

Error Invalid(std::string message) { return MakeError(ErrorKind::kInvalid, std::move(message)); }

// Namespaced types need a namespace and every object needs a name.
std::optional<Error> CheckRef(const ObjectRef& ref) {
  if (ref.type.plural.empty() || ref.type.version.empty()) {
    return Invalid("resource type needs a version and a plural");
  }
  if (ref.name.empty()) {
    return Invalid(fmt::format("{}: object name is empty", ref.type.plural));
  }
  if (ref.type.namespaced && ref.ns.empty()) {
    return Invalid(fmt::format("{} \"{}\": namespace is empty", ref.type.plural, ref.name));
  }
  return std::nullopt;
}

std::string WriteQuery(const WriteOptions& options, std::initializer_list<std::pair<std::string_view, std::string>>
                                                        extra = {}) {
  std::string query = Query({{"dryRun", options.dry_run ? "All" : ""}, {"fieldManager", options.field_manager}});
  const std::string more = Query(extra);
  if (!more.empty()) {
    query += query.empty() ? more : "&" + more.substr(1);
  }
  return query;
}

std::string_view PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kJsonPatch:
      return "application/json-patch+json";
    case PatchType::kMergePatch:
      return "application/merge-patch+json";
    case PatchType::kStrategicMergePatch:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";  // JSON is valid YAML
  }
  return "application/merge-patch+json";
}

std::string_view PolicyName(PropagationPolicy policy) {
  switch (policy) {
    case PropagationPolicy::kOrphan:
      return "Orphan";
    case PropagationPolicy::kBackground:
      return "Background";
    case PropagationPolicy::kForeground:
      return "Foreground";
  }
  return "Background";
}

class CurlClient final : public KubeClient {
 public:
  explicit CurlClient(std::shared_ptr<ClientCore> core) : core_(std::move(core)) {}

  Result<nlohmann::json> Get(const ObjectRef& ref, const GetOptions& options) override {
    if (auto bad = CheckRef(ref)) {
      return *bad;
    }
    HttpRequest request{"GET", ObjectPath(ref) + Query({{"resourceVersion", options.resource_version}}), {}, {}};
    return core_->CallJson(request);
  }

  Result<ObjectList> List(const ResourceType& type, std::string_view ns, const ListOptions& options) override {
    return core_->ListPage(type, ns, options);
  }

  Result<nlohmann::json> Create(const ResourceType& type, std::string_view ns, const nlohmann::json& object,
                                const WriteOptions& options) override {
    if (type.namespaced && ns.empty()) {
      return Invalid(fmt::format("create {}: namespace is empty", type.plural));
    }
    HttpRequest request{"POST", CollectionPath(type, ns) + WriteQuery(options), object.dump(), kJson};
    return core_->CallJson(request);
  }

  Result<nlohmann::json> Update(const ObjectRef& ref, const nlohmann::json& object,
                                const WriteOptions& options) override {
    if (auto bad = CheckRef(ref)) {
      return *bad;
    }
    HttpRequest request{"PUT", ObjectPath(ref) + WriteQuery(options), object.dump(), kJson};
    return core_->CallJson(request);
  }

  Result<nlohmann::json> Patch(const ObjectRef& ref, PatchType type, const nlohmann::json& patch,
                               const PatchOptions& options) override {
    if (auto bad = CheckRef(ref)) {
      return *bad;
    }
    if (type == PatchType::kApply && options.field_manager.empty()) {
      return Invalid("server-side apply needs PatchOptions::field_manager");
    }
    if (type == PatchType::kJsonPatch && !patch.is_array()) {
      return Invalid("a JSON patch must be an array of operations");
    }
    const std::string force = type == PatchType::kApply && options.force ? "true" : "";
    HttpRequest request{"PATCH", ObjectPath(ref) + WriteQuery(options, {{"force", force}}), patch.dump(),
                        std::string(PatchContentType(type))};
    return core_->CallJson(request);
  }

  Result<nlohmann::json> Delete(const ObjectRef& ref, const DeleteOptions& options) override {
    if (auto bad = CheckRef(ref)) {
      return *bad;
    }
    nlohmann::json body = nlohmann::json::object();
    if (options.grace_period_seconds) {
      body["gracePeriodSeconds"] = *options.grace_period_seconds;
    }
    if (options.propagation_policy) {
      body["propagationPolicy"] = PolicyName(*options.propagation_policy);
    }
    if (!options.precondition_uid.empty()) {
      body["preconditions"]["uid"] = options.precondition_uid;
    }
    if (!options.precondition_resource_version.empty()) {
      body["preconditions"]["resourceVersion"] = options.precondition_resource_version;
    }
    if (options.dry_run) {
      body["dryRun"] = nlohmann::json::array({"All"});
    }
    HttpRequest request{"DELETE", ObjectPath(ref) + Query({{"dryRun", options.dry_run ? "All" : ""}}), {}, {}};
    if (!body.empty()) {
      body["kind"] = "DeleteOptions";
      body["apiVersion"] = "v1";
      request.body = body.dump();
      request.content_type = kJson;
    }
    return core_->CallJson(request);
  }

  Result<void> Evict(const ObjectRef& pod, const EvictOptions& options) override {
    if (auto bad = CheckRef(pod)) {
      return *bad;
    }
    if (pod.type.plural != "pods" || !pod.type.group.empty()) {
      return Invalid(fmt::format("eviction applies to pods, not {}", pod.type.plural));
    }
    nlohmann::json eviction = {{"apiVersion", "policy/v1"},
                               {"kind", "Eviction"},
                               {"metadata", {{"name", pod.name}, {"namespace", pod.ns}}}};
    if (options.grace_period_seconds || options.dry_run) {
      nlohmann::json delete_options = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
      if (options.grace_period_seconds) {
        delete_options["gracePeriodSeconds"] = *options.grace_period_seconds;
      }
      if (options.dry_run) {
        delete_options["dryRun"] = nlohmann::json::array({"All"});
      }
      eviction["deleteOptions"] = std::move(delete_options);
    }
    const ObjectRef target = pod.Subresource("eviction");
    HttpRequest request{"POST", ObjectPath(target) + Query({{"dryRun", options.dry_run ? "All" : ""}}),
                        eviction.dump(), kJson};
    auto response = core_->Call(request);
    if (!response.ok()) {
      return response.error();
    }
    internal::Log()->info("event=pod_evicted namespace={} pod={} dry_run={}", pod.ns, pod.name, options.dry_run);
    return {};
  }

  std::unique_ptr<Watcher> Watch(const ResourceType& type, std::string_view ns, const WatchOptions& options,
                                 WatchCallbacks callbacks) override {
    return internal::StartWatcher(core_, type, ns, options, std::move(callbacks));
  }

 private:
  std::shared_ptr<ClientCore> core_;
};

Result<Scale> ParseScale(const nlohmann::json& object) {
  if (!object.is_object()) {
    return MakeError(ErrorKind::kDecode, "scale subresource is not an object");
  }
  Scale scale;
  try {
    scale.spec_replicas = object.value("/spec/replicas"_json_pointer, 0);
    scale.status_replicas = object.value("/status/replicas"_json_pointer, 0);
    scale.selector = object.value("/status/selector"_json_pointer, std::string());
    scale.resource_version = object.value("/metadata/resourceVersion"_json_pointer, std::string());
  } catch (const nlohmann::json::exception& e) {
    return MakeError(ErrorKind::kDecode, fmt::format("scale subresource has unexpected fields: {}", e.what()));
  }
  scale.raw = object;
  return scale;
}

}  // namespace

Result<std::unique_ptr<KubeClient>> NewClient(ClientConfig config, ClientOptions options) {
  auto transport = internal::Transport::Create(std::move(config), std::move(options));
  if (!transport.ok()) {
    return transport.error();
  }
  internal::Log()->info("event=client_created source=\"{}\" server={}", (*transport)->config().source,
                        (*transport)->config().server);
  return std::unique_ptr<KubeClient>(
      std::make_unique<CurlClient>(std::make_shared<ClientCore>(std::move(transport).value())));
}

Result<ObjectList> ListAll(KubeClient& client, const ResourceType& type, std::string_view ns, ListOptions options) {
  ObjectList all;
  for (;;) {
    auto page = client.List(type, ns, options);
    if (!page.ok()) {
      return page.error();
    }
    if (all.resource_version.empty()) {
      all.resource_version = page->resource_version;
    }
    std::move(page->items.begin(), page->items.end(), std::back_inserter(all.items));
    if (page->continue_token.empty()) {
      return all;
    }
    options.continue_token = page->continue_token;
  }
}

Result<nlohmann::json> UpdateWithRetry(KubeClient& client, const ObjectRef& ref, const MutateFn& mutate,
                                       const WriteOptions& options, int max_attempts) {
  Error last_conflict = MakeError(ErrorKind::kConflict, "no attempt made");
  for (int attempt = 1; attempt <= std::max(1, max_attempts); ++attempt) {
    auto current = client.Get(ref);
    if (!current.ok()) {
      return current.error();
    }
    nlohmann::json object = *current;
    auto mutation = mutate(object);
    if (!mutation.ok()) {
      return mutation.error();
    }
    if (*mutation == Mutation::kUnchanged) {
      return current;
    }
    // The fetched version makes the PUT conditional, whatever mutate did.
    std::string resource_version;
    if (const auto meta = current->find("metadata"); meta != current->end() && meta->is_object()) {
      resource_version = meta->value("resourceVersion", "");
    }
    if (!object.contains("metadata") || !object["metadata"].is_object()) {
      return Invalid(fmt::format("{} \"{}\": mutate removed metadata", ref.type.plural, ref.name));
    }
    object["metadata"]["resourceVersion"] = resource_version;
    auto updated = client.Update(ref, object, options);
    if (updated.ok() || updated.error().kind != ErrorKind::kConflict) {
      return updated;
    }
    last_conflict = updated.error();
    internal::Log()->info("event=update_conflict resource={} namespace={} name={} attempt={} max_attempts={}",
                          ref.type.plural, ref.ns, ref.name, attempt, max_attempts);
  }
  return last_conflict;
}

Result<Scale> GetScale(KubeClient& client, const ObjectRef& workload) {
  auto object = client.Get(workload.Subresource("scale"));
  if (!object.ok()) {
    return object.error();
  }
  return ParseScale(*object);
}

Result<Scale> UpdateScale(KubeClient& client, const ObjectRef& workload, int32_t replicas,
                          const std::string& resource_version, const WriteOptions& options) {
  if (replicas < 0) {
    return Invalid(fmt::format("replicas must be >= 0, got {}", replicas));
  }
  nlohmann::json scale = {{"apiVersion", "autoscaling/v1"},
                          {"kind", "Scale"},
                          {"metadata", {{"name", workload.name}, {"namespace", workload.ns}}},
                          {"spec", {{"replicas", replicas}}}};
  if (!resource_version.empty()) {
    scale["metadata"]["resourceVersion"] = resource_version;
  }
  auto object = client.Update(workload.Subresource("scale"), scale, options);
  if (!object.ok()) {
    return object.error();
  }
  return ParseScale(*object);
}

Result<Scale> PatchScale(KubeClient& client, const ObjectRef& workload, int32_t replicas,
                         const WriteOptions& options) {
  if (replicas < 0) {
    return Invalid(fmt::format("replicas must be >= 0, got {}", replicas));
  }
  PatchOptions patch_options;
  patch_options.dry_run = options.dry_run;
  patch_options.field_manager = options.field_manager;
  auto object = client.Patch(workload.Subresource("scale"), PatchType::kMergePatch,
                             {{"spec", {{"replicas", replicas}}}}, patch_options);
  if (!object.ok()) {
    return object.error();
  }
  return ParseScale(*object);
}

}  // namespace kubemend::kube
