# kafka-secure.sh (sourced by kafka.sh and stack.sh): the material of a secured broker, made
# with openssl. secure_material (the local broker on loopback) writes in its run directory:
#   tls/ca.crt, tls/ca.key     a CA of its own (clients trust it: SANDGUARD_KAFKA_CA_FILE)
#   tls/broker.pem             the broker's key and certificate (CN=sandguard-broker,
#                              SAN 127.0.0.1 and localhost), signed by that CA
#   client.json                bootstrap, CA file and the SCRAM users with their passwords
# stack.sh --secure makes the same with secure_tls (SAN: the compose service name too) and
# secure_users.
# One SCRAM identity per component (least privilege: deploy/local and docs/deployment.md),
# plus admin (a super user: creates topics and ACLs).
SECURE_USERS=(admin sandguard-collector sandguard-processor sandguard-enforcer sandguard-sink sandguard-manager)
# Test certificates: valid for 30 days, re-made with every fresh broker.
CERT_DAYS=30
# Always in the broker's certificate: its controller listener and loopback clients.
LOOPBACK_SAN="IP:127.0.0.1,DNS:localhost"

# secure_tls DIR [SAN]: a CA, and the broker's key and certificate (SAN: loopback, plus SAN).
secure_tls() {
  local tls="$1" san="$LOOPBACK_SAN${2:+,$2}"
  mkdir -p "$tls"; chmod 700 "$tls"
  command -v openssl >/dev/null || apt_install openssl
  openssl req -x509 -newkey rsa:2048 -nodes -days "$CERT_DAYS" -subj "/CN=sandguard-local-ca" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=sandguard-broker" \
    -keyout "$tls/broker.key" -out "$tls/broker.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > "$tls/ext.cnf"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
    -days "$CERT_DAYS" -extfile "$tls/ext.cnf" -out "$tls/broker.crt" 2>/dev/null
  # Kafka's PEM keystore: the PKCS#8 key, then the certificate chain, in one file.
  cat "$tls/broker.key" "$tls/broker.crt" > "$tls/broker.pem"
  chmod 600 "$tls"/*.key "$tls/broker.pem"
}

# secure_users: a random password per SECURE_USERS; sets PASSWORDS (user -> password),
# ADMIN_PASSWORD, SCRAM_ARGS (kafka-storage format's --add-scram arguments) and USERS_JSON.
secure_users() {
  local user pw entries=()
  declare -gA PASSWORDS=()
  SCRAM_ARGS=()
  for user in "${SECURE_USERS[@]}"; do
    pw=$(openssl rand -hex 16)
    PASSWORDS[$user]="$pw"
    SCRAM_ARGS+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$pw]")
    entries+=("\"$user\": \"$pw\"")
  done
  ADMIN_PASSWORD="${PASSWORDS[admin]}"
  local IFS=,
  USERS_JSON="{${entries[*]}}"
}

# client_json FILE BOOTSTRAP CA: what a client on this host needs (0600: it holds passwords).
client_json() {
  printf '{"bootstrap": "%s", "ca_file": "%s", "mechanism": "SCRAM-SHA-512", "users": %s}\n' \
    "$2" "$3" "$USERS_JSON" > "$1"
  chmod 600 "$1"
}

secure_material() {
  local run="$1"
  mkdir -p "$run"; chmod 700 "$run"
  secure_tls "$run/tls"
  secure_users
  client_json "$run/client.json" "127.0.0.1:$PORT" "$run/tls/ca.crt"
}
