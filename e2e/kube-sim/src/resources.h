#pragma once

// The fixed set of resource types kube-sim serves, with everything
// discovery needs (group, version, kind, scope, verbs, short names,
// categories, subresources). One static table: adding a type here makes it
// discoverable, storable and listable; behaviour lives in the controllers.

#include "json_util.h"

#include <string>
#include <vector>

namespace kubesim {

struct SubresourceInfo {
  std::string name;           // "status", "scale", "eviction", "log"
  std::string group;          // group of the subresource's kind if different ("autoscaling")
  std::string version;        // its version ("v1")
  std::string kind;           // "Scale", "Eviction", ...
  std::vector<std::string> verbs;
};

struct ResourceInfo {
  std::string group;  // "" for the core group
  std::string version;
  std::string plural;
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<SubresourceInfo> subresources;
  // Whether spec edits bump metadata.generation (true for anything with a spec
  // a controller reconciles).
  bool tracks_generation = false;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  std::string list_kind() const { return kind + "List"; }
  // "pods", "deployments.apps": the name used in error messages.
  std::string qualified() const { return group.empty() ? plural : plural + "." + group; }
  std::string kind_qualified() const { return group.empty() ? kind : kind + "." + group; }
  // Stable identifier used as the store key prefix.
  const std::string& id() const { return plural; }
  bool has_subresource(const std::string& name) const;
  const SubresourceInfo* subresource(const std::string& name) const;
};

// All served types.
const std::vector<ResourceInfo>& all_resources();
// By group + plural (the URL form); nullptr if unknown.
const ResourceInfo* find_resource(const std::string& group, const std::string& version, const std::string& plural);
// By kind ("Deployment"), used when seeding objects from YAML.
const ResourceInfo* find_resource_by_kind(const std::string& api_version, const std::string& kind);
// Core types the controllers use constantly.
const ResourceInfo& pods_resource();
const ResourceInfo& resource_by_plural(const std::string& plural);

// Group/version pairs for /api and /apis, in preference order.
struct GroupVersions {
  std::string group;
  std::vector<std::string> versions;
};
std::vector<GroupVersions> served_groups();

// The APIResourceList for one group/version (the discovery document).
Json api_resource_list(const std::string& group, const std::string& version);

}  // namespace kubesim
