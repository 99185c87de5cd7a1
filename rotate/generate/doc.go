// Package generate makes the new values secret rotation stores: passwords, random bytes,
// UUIDs, key pairs, TLS certificates, and the output of a program the operator names.
//
// A generator is described by a Spec (a type and its parameters, from a policy file or from a
// --generator flag in the form ParseSpec reads) and built by New, which validates the spec
// completely, so that a spec that cannot produce a value is rejected before anything changes.
// Generate then only fails for reasons of the moment: a cancelled context, a program that
// failed, a CA certificate that expired in between.
//
// Every random value comes from crypto/rand. No generated value ever appears in an error, a log
// line or a panic: errors name the generator type and the parameter at fault, never a value.
//
// # Types and parameters
//
// Parameters are strings. Numbers are decimal, booleans are what strconv.ParseBool accepts,
// durations are what time.ParseDuration accepts. List parameters (marked "list") separate
// their items with ";"; "\;" is a semicolon inside an item and "\\" a backslash (JoinList
// builds such a value from items).
//
//	password     a password, as the Password generator of External Secrets Operator makes them.
//	             Fills [key].
//	  length           characters in all (default 24)
//	  digits           exactly this many digits (default length/4)
//	  symbols          exactly this many symbols (default length/4); the rest are letters
//	  symbolCharacters the symbols to choose from (default ~!@#$%^&*()_+`-={}|[]\:"<>?,./)
//	  noUpper          no upper-case letters (default false)
//	  allowRepeat      a character may occur more than once (default false: none repeats,
//	                   which caps digits at 10, letters at 52 (26 with noUpper) and
//	                   symbols at the number of symbolCharacters)
//
//	bytes        random bytes. Fills [key].
//	  length    bytes before encoding (default 32)
//	  encoding  hex, base64 (standard, padded; the default), base64url (URL alphabet, not
//	            padded) or raw (the bytes themselves)
//
//	uuid         a random (version 4) UUID in its 36-character text form. Fills [key].
//
//	rsa          an RSA key pair. Fills [key] with the private key and [key].pub with the public.
//	  bits      key size (default 4096, at least 2048)
//	  format    pkcs8 (the default: PEM "PRIVATE KEY" and "PUBLIC KEY") or openssh (an
//	            OpenSSH private key and an authorized_keys line)
//	  comment   the OpenSSH key comment (format=openssh only)
//
//	ed25519      an Ed25519 key pair; parameters format and comment, as for rsa.
//
//	ecdsa        an ECDSA key pair; parameters format and comment, as for rsa, and
//	  curve     p256 (the default), p384 or p521
//
//	ssh          an OpenSSH key pair: the key pair types with format=openssh.
//	  keyType   ed25519 (the default), rsa or ecdsa
//	  bits      RSA key size (keyType=rsa only; default 4096)
//	  curve     ECDSA curve (keyType=ecdsa only; default p256)
//	  comment   the key comment
//
//	tls          a certificate and its key, as a kubernetes.io/tls Secret holds them. Fills
//	             tls.crt and tls.key (PKCS #8 PEM), and ca.crt when a CA signs; the entry key
//	             is ignored. Without caCert the certificate is self-signed.
//	  commonName   subject common name (at most 64 characters)
//	  dnsNames     DNS subject alternative names (list)
//	  ipAddresses  IP subject alternative names (list)
//	               At least one of commonName, dnsNames and ipAddresses is required.
//	  validity     how long the certificate is valid from now (default 8760h)
//	  keyType      ecdsa (the default), rsa or ed25519
//	  bits         RSA key size (keyType=rsa only; default 2048)
//	  curve        ECDSA curve (keyType=ecdsa only; default p256)
//	  caCert       file with the PEM certificate of the CA that signs (with caKey)
//	  caKey        file with the CA's private key: PEM PKCS #8, PKCS #1 or SEC 1, unencrypted
//
//	command      the standard output of a program. Fills [key].
//	  command      the program: a path, or a name looked up in PATH (required)
//	  args         its arguments (list)
//	  timeout      how long it may run (default 30s)
//	  trimNewline  drop one trailing newline ("\n" or "\r\n") from the output (default true)
//
// The program runs without a shell, with standard input empty and an environment of PATH,
// HOME and SECRETSHIFT_KEY (the entry key) only. It must exit 0 and print a value; what it
// prints to standard error is only ever shown, shortened, when it failed, and then only when
// it repeats nothing of what it printed to standard output.
package generate
