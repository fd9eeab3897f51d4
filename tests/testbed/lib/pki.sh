# Certificates, keys and kubeconfigs for one testbed run, made fresh by `up`
# under $PKI (P-256 keys: fast to generate). One CA signs everything.

# new_cert NAME SUBJECT EXT: a key and a CA-signed certificate NAME.{key,crt}.
new_cert() {
  local name=$1 subject=$2 ext=$3
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null \
    || die "openssl could not sign the $name certificate"
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"

# write_kubeconfig FILE USER CERT_NAME: a client-certificate kubeconfig, 0600.
write_kubeconfig() {
  local file=$1 user=$2 cert=$3
  (umask 077; cat >"$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: kscan-testbed
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$cert.crt")
    client-key-data: $(base64 -w0 <"$PKI/$cert.key")
contexts:
- name: kscan-testbed
  context:
    cluster: kscan-testbed
    user: $user
    namespace: $TEST_NAMESPACE
current-context: kscan-testbed
KUBECONFIG
  )
}

make_pki() {
  command -v openssl >/dev/null || die "openssl not found"
  (umask 077; mkdir -p "$PKI")
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=kscan-testbed-ca" -days 30 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/ca.crt" 2>/dev/null || die "openssl could not make the testbed CA"

  new_cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_IP,IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  new_cert kubelet-server "/CN=$NODE_NAME" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME"
  # Who is who to the authorizers: the admin is in system:masters; the API
  # server reaches kubelets as a member of system:masters too; the kubelet is
  # system:node:<name> in system:nodes for the Node authorizer.
  new_cert admin "/O=system:masters/CN=kscan-testbed-admin" "$client_ext"
  new_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
  new_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client_ext"
  new_cert controller-manager "/CN=system:kube-controller-manager" "$client_ext"
  new_cert scheduler "/CN=system:kube-scheduler" "$client_ext"

  # The ServiceAccount token signing key pair (TokenRequest, projected tokens).
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
  openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null

  write_kubeconfig "$ADMIN_KUBECONFIG" kscan-testbed-admin admin
  write_kubeconfig "$PKI/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet
  write_kubeconfig "$PKI/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
  write_kubeconfig "$PKI/scheduler.kubeconfig" system:kube-scheduler scheduler
}
