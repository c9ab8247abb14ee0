package auth

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// TLSSettings are a listener's ssl.* settings, by Kafka's names. Stores are PEM only.
type TLSSettings struct {
	KeystoreType             string // ssl.keystore.type: PEM ("" is PEM)
	KeystoreLocation         string // ssl.keystore.location: a PEM file with the key and its chain
	KeystoreCertificateChain string // ssl.keystore.certificate.chain: the chain, inline PEM
	KeystoreKey              string // ssl.keystore.key: the key, inline PEM
	KeyPassword              string // ssl.key.password: refused (encrypted keys are not read)
	TruststoreType           string // ssl.truststore.type: PEM ("" is PEM)
	TruststoreLocation       string // ssl.truststore.location: PEM CA certificates
	TruststoreCertificates   string // ssl.truststore.certificates: the same, inline
	ClientAuth               string // ssl.client.auth: required, requested or none ("" is none)
	EnabledProtocols         string // ssl.enabled.protocols: TLSv1.2,TLSv1.3 ("" is both)
	CipherSuites             string // ssl.cipher.suites: IANA names for TLS 1.2 ("" is Go's defaults)
	PrincipalMappingRules    string // ssl.principal.mapping.rules ("" is DEFAULT)
}

// ReloadCheck is how often, at most, a handshake checks the store files for changes.
const ReloadCheck = 5 * time.Second

// TLS is a listener's TLS configuration, reloaded when its files change (see doc.go).
type TLS struct {
	set    TLSSettings
	mapper *PrincipalMapper
	base   *tls.Config // protocols, ciphers, client auth; certificates come from cur
	log    *slog.Logger

	mu        sync.Mutex // guards cur, stamps, lastCheck
	cur       *tls.Config
	stamps    []fileStamp
	lastCheck time.Time
}

type fileStamp struct {
	path string
	mod  time.Time
	size int64
}

// NewTLS checks the settings and loads the stores. Errors name the setting at fault.
func NewTLS(set TLSSettings, log *slog.Logger) (*TLS, error) {
	for name, typ := range map[string]string{"ssl.keystore.type": set.KeystoreType, "ssl.truststore.type": set.TruststoreType} {
		if typ != "" && !strings.EqualFold(typ, "PEM") {
			return nil, fmt.Errorf("%s=%s: logd reads PEM stores only (convert: keytool -importkeystore, then openssl)", name, typ)
		}
	}
	if set.KeyPassword != "" {
		return nil, errors.New("ssl.key.password: logd does not read encrypted keys; store the key unencrypted (openssl pkcs8 -nocrypt) and guard the file's permissions")
	}
	if log == nil {
		log = slog.Default()
	}
	t := &TLS{set: set, log: log, base: &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}}
	var err error
	if t.mapper, err = NewPrincipalMapper(set.PrincipalMappingRules); err != nil {
		return nil, fmt.Errorf("ssl.principal.mapping.rules: %v", err)
	}
	switch strings.ToLower(strings.TrimSpace(set.ClientAuth)) {
	case "", "none":
		t.base.ClientAuth = tls.NoClientCert
	case "requested":
		t.base.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		t.base.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("ssl.client.auth=%s: want required, requested or none", set.ClientAuth)
	}
	if err := t.setProtocols(); err != nil {
		return nil, err
	}
	if err := t.setCiphers(); err != nil {
		return nil, err
	}
	if t.cur, t.stamps, err = t.load(); err != nil {
		return nil, err
	}
	if t.base.ClientAuth != tls.NoClientCert && t.cur.ClientCAs == nil {
		return nil, fmt.Errorf("ssl.client.auth=%s needs a truststore (ssl.truststore.location) to verify client certificates", set.ClientAuth)
	}
	t.lastCheck = time.Now()
	return t, nil
}

func (t *TLS) setProtocols() error {
	if strings.TrimSpace(t.set.EnabledProtocols) == "" {
		return nil
	}
	lo, hi := uint16(0), uint16(0)
	for _, p := range strings.Split(t.set.EnabledProtocols, ",") {
		var v uint16
		switch strings.TrimSpace(p) {
		case "TLSv1.2":
			v = tls.VersionTLS12
		case "TLSv1.3":
			v = tls.VersionTLS13
		case "":
			continue
		default:
			return fmt.Errorf("ssl.enabled.protocols: %q is not TLSv1.2 or TLSv1.3 (older versions are not served)", strings.TrimSpace(p))
		}
		if lo == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	t.base.MinVersion, t.base.MaxVersion = lo, hi
	return nil
}

func (t *TLS) setCiphers() error {
	if strings.TrimSpace(t.set.CipherSuites) == "" {
		return nil
	}
	byName := map[string]uint16{}
	for _, c := range tls.CipherSuites() {
		byName[c.Name] = c.ID
	}
	for _, name := range strings.Split(t.set.CipherSuites, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		id, ok := byName[name]
		if !ok {
			if strings.HasPrefix(name, "TLS_AES_") || strings.HasPrefix(name, "TLS_CHACHA20_") {
				continue // TLS 1.3 suites are not configurable in Go; all are on
			}
			return fmt.Errorf("ssl.cipher.suites: %q is not a secure TLS 1.2 suite Go offers (IANA names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", name)
		}
		t.base.CipherSuites = append(t.base.CipherSuites, id)
	}
	return nil
}

// load reads the stores into a new config, and stamps the files it read.
func (t *TLS) load() (*tls.Config, []fileStamp, error) {
	var stamps []fileStamp
	read := func(setting, path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", setting, err)
		}
		st, err := os.Stat(path)
		if err == nil {
			stamps = append(stamps, fileStamp{path, st.ModTime(), st.Size()})
		}
		return b, nil
	}
	chain, key := []byte(t.set.KeystoreCertificateChain), []byte(t.set.KeystoreKey)
	if t.set.KeystoreLocation != "" {
		b, err := read("ssl.keystore.location", t.set.KeystoreLocation)
		if err != nil {
			return nil, nil, err
		}
		chain, key = splitPEM(b)
	}
	if len(chain) == 0 || len(key) == 0 {
		return nil, nil, errors.New("ssl.keystore.location (or ssl.keystore.certificate.chain and ssl.keystore.key) must hold a certificate chain and its private key, PEM")
	}
	if bytes.Contains(key, []byte("ENCRYPTED")) {
		return nil, nil, errors.New("ssl.keystore: the private key is encrypted; logd does not read encrypted keys (openssl pkcs8 -nocrypt)")
	}
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return nil, nil, fmt.Errorf("ssl.keystore: %v", err)
	}
	cfg := t.base.Clone()
	cfg.Certificates = []tls.Certificate{pair}
	trust := []byte(t.set.TruststoreCertificates)
	if t.set.TruststoreLocation != "" {
		if trust, err = read("ssl.truststore.location", t.set.TruststoreLocation); err != nil {
			return nil, nil, err
		}
	}
	if len(bytes.TrimSpace(trust)) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(trust) {
			return nil, nil, errors.New("ssl.truststore: no PEM certificate in it")
		}
		cfg.ClientCAs = pool
	}
	return cfg, stamps, nil
}

// splitPEM separates a keystore file's certificates from its private key.
func splitPEM(b []byte) (certs, key []byte) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return certs, key
		}
		if strings.Contains(blk.Type, "PRIVATE KEY") {
			key = append(key, pem.EncodeToMemory(blk)...)
		} else if blk.Type == "CERTIFICATE" {
			certs = append(certs, pem.EncodeToMemory(blk)...)
		}
	}
}

// ClientConfig is the tls.Config this broker dials another broker's listener with, as
// Kafka's inter-broker client: the truststore verifies the server, and the keystore's
// certificate is presented when the server asks for one (mTLS), reloaded as Config's is.
// The protocols and cipher suites are the listener's.
func (t *TLS) ClientConfig() *tls.Config {
	cfg := t.base.Clone()
	cfg.ClientAuth = tls.NoClientCert
	cfg.RootCAs = t.current(time.Now()).ClientCAs // nil: the system's roots
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &t.current(time.Now()).Certificates[0], nil
	}
	return cfg
}

// Config is the tls.Config to serve with: each handshake takes the current certificates,
// reloaded first when a store file changed (checked at most once per ReloadCheck).
func (t *TLS) Config() *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return t.current(time.Now()), nil }}
}

func (t *TLS) current(now time.Time) *tls.Config {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.lastCheck) < ReloadCheck || !t.changed() {
		if now.Sub(t.lastCheck) >= ReloadCheck {
			t.lastCheck = now
		}
		return t.cur
	}
	t.lastCheck = now
	cfg, stamps, err := t.load()
	if err != nil {
		t.log.Warn("TLS stores changed but do not load; keeping the previous certificates", "err", err)
		for i := range t.stamps { // retry when the files change again, not on every check
			if st, err := os.Stat(t.stamps[i].path); err == nil {
				t.stamps[i].mod, t.stamps[i].size = st.ModTime(), st.Size()
			}
		}
		return t.cur
	}
	t.cur, t.stamps = cfg, stamps
	t.log.Info("TLS certificates reloaded")
	return t.cur
}

// changed reports whether a stamped file's time or size moved. REQUIRES: t.mu held.
func (t *TLS) changed() bool {
	for _, s := range t.stamps {
		st, err := os.Stat(s.path)
		if err != nil || !st.ModTime().Equal(s.mod) || st.Size() != s.size {
			return true
		}
	}
	return false
}

// Principal is the connection's principal: User: and the client certificate's subject
// mapped by ssl.principal.mapping.rules, or User:ANONYMOUS without a certificate.
func (t *TLS) Principal(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return Anonymous, nil
	}
	name, err := t.mapper.Name(cs.PeerCertificates[0].Subject.String())
	if err != nil {
		return "", err
	}
	return "User:" + name, nil
}
