// OpenOnlineStore: picks the online store backend named by a URL.

#include "online/online_store.h"

#include "online/redis_online_store.h"

namespace statefold {

Status OpenOnlineStore(const OnlineStoreOptions& options, StateStore* store,
                       std::unique_ptr<OnlineStore>* out) {
  if (IsEmbeddedUrl(options.url)) {
    if (store == nullptr) {
      return Status::InvalidArgument("the embedded online store needs a state directory");
    }
    *out = NewEmbeddedOnlineStore(store);
    return Status::Ok();
  }
  if (options.url.starts_with("redis://")) {
    RedisAddress address;
    STATEFOLD_RETURN_IF_ERROR(ParseRedisUrl(options.url, &address));
    *out = NewRedisOnlineStore(std::move(address), options.should_stop);
    return Status::Ok();
  }
  // Only the scheme is shown: the rest of a URL may hold a password.
  size_t scheme_end = options.url.find("://");
  std::string shown = scheme_end == std::string::npos
                          ? "'" + options.url + "'"
                          : options.url.substr(0, scheme_end + 3) + "...";
  return Status::InvalidArgument("online store " + shown +
                                 " is neither 'embedded' nor a redis:// URL");
}

}  // namespace statefold
