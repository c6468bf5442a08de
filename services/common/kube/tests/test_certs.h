#pragma once

// Throwaway certificates made in-process with OpenSSL, so TLS tests need no
// files and no openssl binary.

#include <memory>
#include <string>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace kubemend::kube::testing {

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertDeleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertPtr = std::unique_ptr<X509, CertDeleter>;

struct CertAndKey {
  CertPtr cert;
  KeyPtr key;
  [[nodiscard]] std::string CertPem() const;
  [[nodiscard]] std::string KeyPem() const;
};

// A self-signed CA.
CertAndKey MakeCa(const std::string& common_name);
// A leaf signed by `ca`, valid for 127.0.0.1 and localhost, usable by a
// server and a client.
CertAndKey MakeLeaf(const CertAndKey& ca, const std::string& common_name);

}  // namespace kubemend::kube::testing
