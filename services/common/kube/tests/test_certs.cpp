#include "test_certs.h"

#include <atomic>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace kubemend::kube::testing {
namespace {

std::atomic<long> g_serial{1};

KeyPtr NewKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) {
    throw std::runtime_error("EVP_EC_gen failed");
  }
  return key;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) {
    throw std::runtime_error(std::string("bad extension ") + value);
  }
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

CertPtr NewCert(EVP_PKEY* key, const std::string& common_name, X509* issuer_cert, EVP_PKEY* issuer_key,
                bool is_ca) {
  CertPtr cert(X509_new());
  X509* x = cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), g_serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                             -1, -1, 0);
  X509* issuer = issuer_cert != nullptr ? issuer_cert : x;
  X509_set_issuer_name(x, X509_get_subject_name(issuer));
  AddExtension(x, issuer, NID_subject_key_identifier, "hash");
  AddExtension(x, issuer, NID_authority_key_identifier, "keyid:always");
  if (is_ca) {
    AddExtension(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(x, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    AddExtension(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
    AddExtension(x, issuer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  }
  if (X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    throw std::runtime_error("X509_sign failed");
  }
  return cert;
}

template <typename Write>
std::string ToPem(Write write) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

}  // namespace

std::string CertAndKey::CertPem() const {
  return ToPem([this](BIO* bio) { PEM_write_bio_X509(bio, cert.get()); });
}

std::string CertAndKey::KeyPem() const {
  return ToPem([this](BIO* bio) { PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
}

CertAndKey MakeCa(const std::string& common_name) {
  CertAndKey ca;
  ca.key = NewKey();
  ca.cert = NewCert(ca.key.get(), common_name, nullptr, nullptr, true);
  return ca;
}

CertAndKey MakeLeaf(const CertAndKey& ca, const std::string& common_name) {
  CertAndKey leaf;
  leaf.key = NewKey();
  leaf.cert = NewCert(leaf.key.get(), common_name, ca.cert.get(), ca.key.get(), false);
  return leaf;
}

}  // namespace kubemend::kube::testing
