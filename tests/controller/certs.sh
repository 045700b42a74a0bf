# shellcheck shell=bash
# A throwaway CA (ca.pem, ca.key) and a certificate it signed for 127.0.0.1 and
# localhost (controller.crt, controller.key), EC P-256 as the lab's, in DIR: for
# the controller's integration tests and its benchmark (bench/controller.sh).
make_certs_in() { # DIR
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=iceprobe-test-ca -keyout "$1/ca.key" -out "$1/ca.pem" 2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
			-keyout "$1/controller.key" -out "$1/controller.csr" 2>/dev/null &&
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$1/san.ext" &&
		openssl x509 -req -in "$1/controller.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" \
			-CAcreateserial -days 2 -extfile "$1/san.ext" -out "$1/controller.crt" 2>/dev/null
}
