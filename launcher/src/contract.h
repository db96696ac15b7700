/*
 * The image contract, generated from builder/contract.py by
 * `python -m builder.contract > launcher/src/contract.h`.  Do not edit:
 * tests/launcher/test_contract.py fails when the two disagree.
 */
#ifndef LAUNCHER_CONTRACT_H
#define LAUNCHER_CONTRACT_H

#define CONTRACT_APP_ROOT            "/app"
#define CONTRACT_SERVER_COMMAND      "server"
#define CONTRACT_SERVER_ALIAS        "start"
#define CONTRACT_DIST_CERTS_DIR      "dist-certs"
#define CONTRACT_DIST_CERT_FILES     {"dist-cert.pem", "dist-key.pem", "dist-ca.pem", NULL}
#define CONTRACT_TLS_OPTIONS_FILE    "dist/inet_tls.config"
#define CONTRACT_DEFAULT_DIST_PORT   24369
#define CONTRACT_COOKIE_VAR          "RELEASE_COOKIE"
#define CONTRACT_EXPRESSION_COMMANDS {"eval", "rpc", "remote", NULL}

#endif
