#include "tls.h"

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace kubesim {

namespace {

[[noreturn]] void fail(const std::string& what) {
  unsigned long code = ERR_get_error();
  char buf[256] = {0};
  ERR_error_string_n(code, buf, sizeof(buf));
  throw std::runtime_error("kube-sim TLS: " + what + ": " + buf);
}

KeyPtr new_key() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) {
    fail("generating an EC key");
  }
  return KeyPtr(key);
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) {
    fail(std::string("building extension ") + value);
  }
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

CertPtr make_cert(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key, bool is_ca) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[8];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("kube-sim"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* signer = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (is_ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), signer, NID_subject_alt_name,
                  "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,IP:127.0.0.1,IP:::1");
    add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  }
  if (!X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256())) {
    fail("signing a certificate");
  }
  return cert;
}

std::string cert_pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  std::string out(mem->data, mem->length);
  BIO_free(bio);
  return out;
}

std::string key_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  std::string out(mem->data, mem->length);
  BIO_free(bio);
  return out;
}

}  // namespace

TlsMaterial generate_tls_material() {
  TlsMaterial m;
  m.ca_key = new_key();
  m.ca_cert = make_cert(m.ca_key.get(), "kube-sim-ca", nullptr, nullptr, true);
  m.server_key = new_key();
  m.server_cert = make_cert(m.server_key.get(), "kube-sim-apiserver", m.ca_cert.get(), m.ca_key.get(), false);
  m.ca_pem = cert_pem(m.ca_cert.get());
  m.server_cert_pem = cert_pem(m.server_cert.get());
  m.server_key_pem = key_pem(m.server_key.get());
  return m;
}

std::string base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string make_kubeconfig(const std::string& server, const std::string& ca_pem, const std::string& token) {
  std::string out =
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- name: kube-sim\n"
      "  cluster:\n"
      "    server: " + server + "\n";
  if (!ca_pem.empty()) {
    out += "    certificate-authority-data: " + base64(ca_pem) + "\n";
  }
  out +=
      "users:\n"
      "- name: kube-sim\n"
      "  user:\n";
  out += token.empty() ? "    {}\n" : "    token: " + token + "\n";
  out +=
      "contexts:\n"
      "- name: kube-sim\n"
      "  context:\n"
      "    cluster: kube-sim\n"
      "    user: kube-sim\n"
      "    namespace: default\n"
      "current-context: kube-sim\n";
  return out;
}

}  // namespace kubesim
