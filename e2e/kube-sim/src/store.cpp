#include "store.h"

#include "api_error.h"

#include <algorithm>

namespace kubesim {

void WatchHub::publish(WatchEventPtr event) {
  {
    std::lock_guard lock(mutex_);
    latest_rv_ = event->rv;
    history_.push_back(std::move(event));
    while (history_.size() > capacity_) {
      compacted_rv_ = history_.front()->rv;
      history_.pop_front();
    }
  }
  cv_.notify_all();
}

void WatchHub::set_capacity(std::size_t capacity) {
  std::lock_guard lock(mutex_);
  capacity_ = capacity == 0 ? 1 : capacity;
  while (history_.size() > capacity_) {
    compacted_rv_ = history_.front()->rv;
    history_.pop_front();
  }
}

std::size_t WatchHub::capacity() const {
  std::lock_guard lock(mutex_);
  return capacity_;
}

void WatchHub::compact() {
  {
    std::lock_guard lock(mutex_);
    history_.clear();
    compacted_rv_ = latest_rv_;
  }
  cv_.notify_all();
}

std::uint64_t WatchHub::latest_rv() const {
  std::lock_guard lock(mutex_);
  return latest_rv_;
}

std::uint64_t WatchHub::compacted_rv() const {
  std::lock_guard lock(mutex_);
  return compacted_rv_;
}

bool WatchHub::resumable(std::uint64_t rv) const {
  std::lock_guard lock(mutex_);
  return rv >= compacted_rv_;
}

WatchHub::Poll WatchHub::poll(std::uint64_t after, std::chrono::milliseconds wait, std::vector<WatchEventPtr>& out) {
  std::unique_lock lock(mutex_);
  auto ready = [&] { return closed_ || after < compacted_rv_ || latest_rv_ > after; };
  if (!ready() && wait.count() > 0) {
    cv_.wait_for(lock, wait, ready);
  }
  if (closed_) {
    return Poll::kClosed;
  }
  if (after < compacted_rv_) {
    return Poll::kExpired;
  }
  if (latest_rv_ <= after) {
    return Poll::kTimeout;
  }
  auto first = std::upper_bound(history_.begin(), history_.end(), after,
                                [](std::uint64_t rv, const WatchEventPtr& e) { return rv < e->rv; });
  out.insert(out.end(), first, history_.end());
  return Poll::kEvents;
}

void WatchHub::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  cv_.notify_all();
}

const Json* ObjectStore::get(const ResourceInfo& r, const std::string& ns, const std::string& name) const {
  auto type = objects_.find(r.id());
  if (type == objects_.end()) {
    return nullptr;
  }
  auto it = type->second.find(key(r.namespaced ? ns : "", name));
  return it == type->second.end() ? nullptr : &it->second;
}

std::vector<const Json*> ObjectStore::list(const ResourceInfo& r, const std::string& ns) const {
  std::vector<const Json*> out;
  auto type = objects_.find(r.id());
  if (type == objects_.end()) {
    return out;
  }
  if (ns.empty() || !r.namespaced) {
    for (const auto& [k, v] : type->second) {
      out.push_back(&v);
    }
    return out;
  }
  std::string prefix = ns + "/";
  for (auto it = type->second.lower_bound(prefix); it != type->second.end() && it->first.rfind(prefix, 0) == 0;
       ++it) {
    out.push_back(&it->second);
  }
  return out;
}

std::size_t ObjectStore::size() const {
  std::size_t n = 0;
  for (const auto& [id, objects] : objects_) {
    n += objects.size();
  }
  return n;
}

Json ObjectStore::insert(const ResourceInfo& r, Json object) {
  std::string ns = r.namespaced ? namespace_of(object) : "";
  std::string name = name_of(object);
  auto& bucket = objects_[r.id()];
  if (bucket.count(key(ns, name))) {
    throw ApiError::already_exists(r.qualified(), name);
  }
  if (!r.namespaced) {
    object["metadata"].erase("namespace");
  }
  object["metadata"]["resourceVersion"] = std::to_string(next_rv());
  bucket[key(ns, name)] = object;
  publish(r, "ADDED", object, nullptr);
  return object;
}

Json ObjectStore::replace(const ResourceInfo& r, Json object, bool check_rv) {
  std::string ns = r.namespaced ? namespace_of(object) : "";
  std::string name = name_of(object);
  auto& bucket = objects_[r.id()];
  auto it = bucket.find(key(ns, name));
  if (it == bucket.end()) {
    throw ApiError::not_found(r.qualified(), name);
  }
  Json& stored = it->second;
  std::string stored_rv = string_at(stored, "metadata.resourceVersion");
  if (check_rv) {
    std::string given = string_at(object, "metadata.resourceVersion");
    if (!given.empty() && given != stored_rv) {
      throw ApiError::conflict(r.qualified(), name,
                               "the object has been modified; please apply your changes to the latest version and "
                               "try again");
    }
  }
  // Identity fields are owned by the server.
  Json& meta = object["metadata"];
  meta["uid"] = stored["metadata"]["uid"];
  meta["creationTimestamp"] = stored["metadata"]["creationTimestamp"];
  if (stored["metadata"].contains("deletionTimestamp")) {
    meta["deletionTimestamp"] = stored["metadata"]["deletionTimestamp"];
  }
  if (!r.namespaced) {
    meta.erase("namespace");
  }
  if (r.tracks_generation) {
    std::int64_t generation = int_at(stored, "metadata.generation", 1);
    const Json null_spec;
    const Json& old_spec = stored.contains("spec") ? stored["spec"] : null_spec;
    const Json& new_spec = object.contains("spec") ? object["spec"] : null_spec;
    meta["generation"] = old_spec == new_spec ? generation : generation + 1;
  }
  meta["resourceVersion"] = stored_rv;
  if (object == stored) {
    return stored;
  }
  meta["resourceVersion"] = std::to_string(next_rv());
  Json previous = std::move(stored);
  stored = std::move(object);
  publish(r, "MODIFIED", stored, &previous);
  return stored;
}

Json ObjectStore::erase(const ResourceInfo& r, const std::string& ns, const std::string& name) {
  auto& bucket = objects_[r.id()];
  auto it = bucket.find(key(r.namespaced ? ns : "", name));
  if (it == bucket.end()) {
    throw ApiError::not_found(r.qualified(), name);
  }
  Json last = std::move(it->second);
  bucket.erase(it);
  // The DELETED event carries a fresh resourceVersion, as etcd's delete
  // revision does, so watchers can resume after it.
  last["metadata"]["resourceVersion"] = std::to_string(next_rv());
  publish(r, "DELETED", last, nullptr);
  return last;
}

void ObjectStore::publish(const ResourceInfo& r, const std::string& type, const Json& object, const Json* previous) {
  auto event = std::make_shared<WatchEvent>();
  event->rv = rv_;
  event->resource = &r;
  event->ns = r.namespaced ? namespace_of(object) : "";
  event->type = type;
  event->object = std::make_shared<const Json>(object);
  if (previous) {
    event->previous = std::make_shared<const Json>(*previous);
  }
  hub_.publish(std::move(event));
}

}  // namespace kubesim
