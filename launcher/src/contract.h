/*
 * The image contract, generated from builder/contract.py by
 * `python -m builder.contract > launcher/src/contract.h`.  Do not edit:
 * tests/launcher/test_contract.py fails when the two disagree.
 */
#ifndef LAUNCHER_CONTRACT_H
#define LAUNCHER_CONTRACT_H

#define CONTRACT_APP_ROOT             "/app"
#define CONTRACT_SERVER_COMMAND       "server"
#define CONTRACT_SERVER_ALIAS         "start"
#define CONTRACT_DIST_CERTS_DIR       "dist-certs"
#define CONTRACT_DIST_CERT_FILES      {"dist-cert.pem", "dist-key.pem", "dist-ca.pem", NULL}
#define CONTRACT_TLS_OPTIONS_FILE     "dist/inet_tls.config"
#define CONTRACT_DEFAULT_DIST_PORT    24369
#define CONTRACT_COOKIE_VAR           "RELEASE_COOKIE"
#define CONTRACT_CREDENTIALS_VAR      "CREDENTIALS_DIRECTORY"
#define CONTRACT_CREDENTIALS_ROOT     "/run/credentials/"
#define CONTRACT_COOKIE_CREDENTIAL    "cookie"
#define CONTRACT_REFUSED_ENV_PREFIXES {"ERL_", "LD_", NULL}
#define CONTRACT_REFUSED_ENV_NAMES    {"ELIXIR_ERL_OPTIONS", "GLIBC_TUNABLES", "GCONV_PATH", NULL}
#define CONTRACT_ALLOWED_ENV_NAMES    {"ERL_CRASH_DUMP_SECONDS", NULL}
#define CONTRACT_EXIT_ENV_REFUSED     77
#define CONTRACT_EXPRESSION_COMMANDS  {"eval", "rpc", "remote", NULL}

#endif
