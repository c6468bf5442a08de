#pragma once

// Certificates for the HTTPS listener: a throw-away CA and a server
// certificate for 127.0.0.1 / ::1 / localhost signed by it, so clients
// (kubectl, kubemend's Kubernetes client) can verify TLS against the CA
// written in the kubeconfig. OpenSSL only; errors throw std::runtime_error
// (a start-up failure).

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace kubesim {

struct EvpKeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, EvpKeyFree>;
using CertPtr = std::unique_ptr<X509, X509Free>;

struct TlsMaterial {
  KeyPtr ca_key;
  CertPtr ca_cert;
  KeyPtr server_key;
  CertPtr server_cert;
  std::string ca_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
};

TlsMaterial generate_tls_material();

// A kubeconfig for `server` trusting `ca_pem` (empty: plain HTTP) with a
// bearer token (empty: none).
std::string make_kubeconfig(const std::string& server, const std::string& ca_pem, const std::string& token);

std::string base64(const std::string& data);

}  // namespace kubesim
