# kafka-secure.sh (sourced by kafka.sh): the material of a secured local broker, made with
# openssl in the broker's run directory:
#   tls/ca.crt, tls/ca.key     a CA of its own (clients trust it: SANDGUARD_KAFKA_CA_FILE)
#   tls/broker.pem             the broker's key and certificate (CN=sandguard-broker,
#                              SAN 127.0.0.1 and localhost), signed by that CA
#   client.json                bootstrap, CA file and the SCRAM users with their passwords
# One SCRAM identity per component (least privilege: deploy/local and docs/deployment.md),
# plus admin (a super user: creates topics and ACLs).
SECURE_USERS=(admin sandguard-collector sandguard-processor sandguard-enforcer sandguard-sink sandguard-manager)
# Test certificates: valid for 30 days, re-made with every fresh broker.
CERT_DAYS=30

secure_material() {
  local run="$1" tls="$1/tls"
  mkdir -p "$tls"; chmod 700 "$run" "$tls"
  command -v openssl >/dev/null || apt_install openssl
  openssl req -x509 -newkey rsa:2048 -nodes -days "$CERT_DAYS" -subj "/CN=sandguard-local-ca" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=sandguard-broker" \
    -keyout "$tls/broker.key" -out "$tls/broker.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > "$tls/ext.cnf"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
    -days "$CERT_DAYS" -extfile "$tls/ext.cnf" -out "$tls/broker.crt" 2>/dev/null
  # Kafka's PEM keystore: the PKCS#8 key, then the certificate chain, in one file.
  cat "$tls/broker.key" "$tls/broker.crt" > "$tls/broker.pem"
  chmod 600 "$tls"/*.key "$tls/broker.pem"
  local user entries=() pw
  SCRAM_ARGS=()
  for user in "${SECURE_USERS[@]}"; do
    pw=$(openssl rand -hex 16)
    [ "$user" = admin ] && ADMIN_PASSWORD="$pw"
    SCRAM_ARGS+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$pw]")
    entries+=("\"$user\": \"$pw\"")
  done
  local IFS=,
  printf '{"bootstrap": "127.0.0.1:%s", "ca_file": "%s", "mechanism": "SCRAM-SHA-512", "users": {%s}}\n' \
    "$PORT" "$tls/ca.crt" "${entries[*]}" > "$run/client.json"
  chmod 600 "$run/client.json"
}
